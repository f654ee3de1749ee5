// Evergreen: HTTP/1.1 client for the core's IPC server on 127.0.0.1:${GG_DAEMON_PORT}
// (reference sections 1.3-1.6). One persistent keep-alive connection per thread (TCP_NODELAY),
// each request written with a single write; a request on a kept-alive connection that turns
// out to be closed is retried once on a fresh connection. Bounded response parsing
// (MAX_HEADER_LINE, MAX_HEADERS, MAX_RESPONSE_BODY). Non-2xx -> IPCException("HTTP Error N: ...").
package com.amazonaws.greengrass.ipcsdk;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

public class DefaultIPCClient implements IPCClient {
  public static final int DEFAULT_PORT = 8000;
  public static final int MAX_HEADER_LINE = 64 * 1024;
  public static final int MAX_HEADERS = 100;
  public static final int MAX_RESPONSE_BODY = 64 * 1024 * 1024;
  public static final int CONNECT_TIMEOUT_MS = 5000;

  private static final String PREFIX = "/2016-11-01/functions/";

  private final String host;
  private final int port;
  private final String token;
  private final ThreadLocal<Conn> conns = new ThreadLocal<>();

  /** The client of a worker: port from GG_DAEMON_PORT (default 8000), token from the env. */
  public DefaultIPCClient() {
    this("127.0.0.1", envPort(), System.getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN"));
  }

  public DefaultIPCClient(String host, int port, String token) {
    this.host = host == null || host.equals("localhost") ? "127.0.0.1" : host;
    this.port = port;
    this.token = token == null ? "" : token;
  }

  private static int envPort() {
    String p = System.getenv("GG_DAEMON_PORT");
    if (p == null || p.isEmpty()) return DEFAULT_PORT;
    try {
      int v = Integer.parseInt(p.trim());
      return v > 0 && v < 65536 ? v : DEFAULT_PORT;
    } catch (NumberFormatException e) {
      return DEFAULT_PORT;
    }
  }

  public int getPort() {
    return port;
  }

  /** An HTTP answer: status, headers (lower-case names) and body. */
  public static final class Response {
    public final int status;
    public final String reason;
    public final Map<String, String> headers;
    public final byte[] body;

    Response(int status, String reason, Map<String, String> headers, byte[] body) {
      this.status = status;
      this.reason = reason;
      this.headers = headers;
      this.body = body;
    }

    public String header(String name) {
      return headers.get(name.toLowerCase(Locale.ROOT));
    }
  }

  // ---- the interface the genuine SDK calls ----

  @Override
  public String postWork(
      String functionArn, String invocationTypeName, byte[] payload, String clientContext)
      throws IPCException {
    Response r =
        check(
            request(
                "POST",
                PREFIX + functionArn,
                new String[] {
                  "X-Amz-Client-Context", clientContext == null ? "" : clientContext,
                  "X-Amz-Invocation-Type",
                      invocationTypeName == null ? "RequestResponse" : invocationTypeName
                },
                payload));
    String id = r.header("X-Amz-InvocationId");
    return id == null ? "" : id;
  }

  @Override
  public WorkResult getWorkResult(String functionArn, String invocationId) throws IPCException {
    Response r =
        check(
            request(
                "GET",
                PREFIX + functionArn,
                new String[] {"X-Amz-InvocationId", invocationId == null ? "" : invocationId},
                null));
    return new WorkResult(r.body, r.status, r.header("X-Amz-Function-Error"));
  }

  // ---- runtime side (E3-E6) ----

  /** E3: long poll for the next invocation of functionArn. */
  public WorkItem getWork(String functionArn) throws IPCException {
    return workItem(check(request("GET", PREFIX + functionArn + "/work", new String[0], null)));
  }

  /** The work item an E3 answer carries ("" for an absent id or client context). */
  private static WorkItem workItem(Response r) {
    String id = r.header("X-Amz-InvocationId");
    String cc = r.header("X-Amz-Client-Context");
    return new WorkItem(id == null ? "" : id, r.body, cc == null ? "" : cc);
  }

  /** E4: the handler's result. */
  public void postWorkResult(String functionArn, String invocationId, byte[] result)
      throws IPCException {
    check(
        request(
            "POST",
            PREFIX + functionArn + "/work",
            new String[] {"X-Amz-InvocationId", invocationId},
            result));
  }

  /**
   * E4 for invocationId, then E3, written together on this thread's connection (HTTP/1.1
   * pipelining: the same two requests as postWorkResult + getWork, one round trip less). Returns
   * the next work item. When the core refuses the result (e.g. the invocation had timed out) but
   * the poll got work, the refusal goes to onRefusedResult and the work is returned: it must
   * still run. When the server closes the connection after the result, this polls again.
   */
  public WorkItem postWorkResultAndGetWork(
      String functionArn,
      String invocationId,
      byte[] result,
      java.util.function.Consumer<IPCException> onRefusedResult)
      throws IPCException {
    String work = PREFIX + functionArn + "/work";
    byte[] post = encode("POST", work, new String[] {"X-Amz-InvocationId", invocationId}, result);
    byte[] get = encode("GET", work, new String[0], null);
    byte[] both = new byte[post.length + get.length];
    System.arraycopy(post, 0, both, 0, post.length);
    System.arraycopy(get, 0, both, post.length, get.length);
    Response[] rs = exchange(both, 2, "POST+GET", work);
    if (rs.length < 2) {
      check(rs[0]);
      return getWork(functionArn); // the server closed after the result
    }
    Response w = check(rs[1]);
    IPCException refused = statusError(rs[0]);
    if (refused != null) {
      if (w.header("X-Amz-InvocationId") == null) throw refused;
      if (onRefusedResult != null) onRefusedResult.accept(refused);
    }
    return workItem(w);
  }

  /** E5: the handler failed; body is the JSON error document. */
  public void postHandlerError(String functionArn, String invocationId, byte[] errorJson)
      throws IPCException {
    check(
        request(
            "POST",
            PREFIX + functionArn + "/work",
            new String[] {"X-Amz-InvocationId", invocationId, "X-Amz-Function-Error", "Handled"},
            errorJson));
  }

  /** E6: PUT .../initialized with {"Success":..,"Response":..} (body built by the caller). */
  public void putInitializationResult(String functionArn, byte[] json) throws IPCException {
    check(request("PUT", PREFIX + functionArn + "/initialized", new String[0], json));
  }

  private static Response check(Response r) throws IPCException {
    IPCException e = statusError(r);
    if (e != null) throw e;
    return r;
  }

  /** "HTTP Error N: reason body" for a non-2xx answer (the cause carries the status), or null. */
  private static IPCException statusError(Response r) {
    if (r.status >= 200 && r.status <= 299) return null;
    String body = new String(r.body, 0, Math.min(r.body.length, 512), StandardCharsets.UTF_8);
    String message = "HTTP Error " + r.status + ": " + r.reason + (body.isEmpty() ? "" : " " + body);
    return new IPCException(message, new HttpStatusException(r.status, message));
  }

  // ---- HTTP ----

  private static final class Conn {
    final Socket socket;
    final InputStream in;
    final OutputStream out;
    boolean used;

    Conn(Socket s) throws IOException {
      socket = s;
      in = new BufferedInputStream(s.getInputStream(), 16 * 1024);
      out = s.getOutputStream();
    }

    void close() {
      try {
        socket.close();
      } catch (IOException e) {
        // closing anyway
      }
    }
  }

  /** Closes this thread's connection (the next request opens a new one). */
  public void closeConnection() {
    Conn c = conns.get();
    if (c != null) {
      c.close();
      conns.remove();
    }
  }

  /** One request; headers are name/value pairs (Authorization and Content-Length are added). */
  public Response request(String method, String path, String[] headers, byte[] body)
      throws IPCException {
    return exchange(encode(method, path, headers, body), 1, method, path)[0];
  }

  /**
   * Writes req (count pipelined requests) and reads up to count answers: fewer only when the
   * server closes the connection after one of them.
   */
  private Response[] exchange(byte[] req, int count, String method, String path)
      throws IPCException {
    for (int attempt = 0; ; attempt++) {
      Conn c = conns.get();
      boolean reused = c != null && c.used;
      try {
        if (c == null) {
          Socket s = new Socket();
          s.setTcpNoDelay(true);
          s.setKeepAlive(true);
          s.connect(new InetSocketAddress(host, port), CONNECT_TIMEOUT_MS);
          c = new Conn(s);
          conns.set(c);
        }
        c.used = true;
        c.out.write(req);
        c.out.flush();
        Response[] rs = new Response[count];
        int n = 0;
        while (n < count) {
          Response r;
          try {
            r = readResponse(c.in, method.equals("HEAD"));
          } catch (IOException e) {
            if (n == 0) throw e;
            closeConnection(); // closed after answering some: the caller decides
            return java.util.Arrays.copyOf(rs, n);
          }
          rs[n++] = r;
          String connection = r.header("Connection");
          if (connection != null && connection.equalsIgnoreCase("close")) {
            closeConnection();
            break;
          }
        }
        return n == count ? rs : java.util.Arrays.copyOf(rs, n);
      } catch (IOException e) {
        closeConnection();
        if (reused && attempt == 0 && (e instanceof StaleConnection || isReset(e))) continue;
        throw new IPCException(
            "IPC request " + method + " " + path + " to " + host + ":" + port + " failed: " + e,
            e);
      }
    }
  }

  private static boolean isReset(Exception e) {
    String m = e.getMessage();
    return m != null && (m.contains("reset") || m.contains("Broken pipe"));
  }

  private static final class StaleConnection extends IOException {
    private static final long serialVersionUID = 1L;

    StaleConnection() {
      super("connection closed before the answer");
    }
  }

  private byte[] encode(String method, String path, String[] headers, byte[] body)
      throws IPCException {
    StringBuilder sb = new StringBuilder(256);
    sb.append(method).append(' ').append(encodePath(path)).append(" HTTP/1.1\r\n");
    sb.append("Host: localhost:").append(port).append("\r\n");
    appendHeader(sb, "Authorization", token);
    for (int i = 0; i + 1 < headers.length; i += 2) appendHeader(sb, headers[i], headers[i + 1]);
    int len = body == null ? 0 : body.length;
    if (body != null || !method.equals("GET")) sb.append("Content-Length: ").append(len).append("\r\n");
    sb.append("\r\n");
    byte[] head = sb.toString().getBytes(StandardCharsets.UTF_8);
    if (len == 0) return head;
    byte[] all = new byte[head.length + len];
    System.arraycopy(head, 0, all, 0, head.length);
    System.arraycopy(body, 0, all, head.length, len);
    return all;
  }

  private static void appendHeader(StringBuilder sb, String name, String value)
      throws IPCException {
    for (int i = 0; i < value.length(); i++) {
      char ch = value.charAt(i);
      if (ch == '\r' || ch == '\n' || ch == 0) {
        String message = "header " + name + " must not contain CR, LF or NUL";
        throw new IPCException(message, new IllegalArgumentException(message));
      }
    }
    sb.append(name).append(": ").append(value).append("\r\n");
  }

  private static String encodePath(String path) {
    StringBuilder sb = null;
    for (int i = 0; i < path.length(); i++) {
      char ch = path.charAt(i);
      boolean bad = ch <= 0x20 || ch >= 0x7f || ch == '%' || ch == '?' || ch == '#';
      if (bad && sb == null) {
        sb = new StringBuilder(path.substring(0, i));
      }
      if (sb != null) {
        if (bad) {
          for (byte b : String.valueOf(ch).getBytes(StandardCharsets.UTF_8)) {
            sb.append('%').append(String.format("%02X", b & 0xff));
          }
        } else {
          sb.append(ch);
        }
      }
    }
    return sb == null ? path : sb.toString();
  }

  private static String readLine(InputStream in, boolean first) throws IOException {
    StringBuilder sb = new StringBuilder(64);
    while (true) {
      int b = in.read();
      if (b < 0) {
        if (first && sb.length() == 0) throw new StaleConnection();
        throw new EOFException("connection closed inside the answer's headers");
      }
      if (b == '\n') {
        int n = sb.length();
        if (n > 0 && sb.charAt(n - 1) == '\r') sb.setLength(n - 1);
        return sb.toString();
      }
      if (sb.length() >= MAX_HEADER_LINE) throw new IOException("answer header line too long");
      sb.append((char) b);
    }
  }

  static Response readResponse(InputStream in, boolean head) throws IOException {
    while (true) {
      String status = readLine(in, true);
      String[] parts = status.split(" ", 3);
      if (parts.length < 2 || !parts[0].startsWith("HTTP/")) {
        throw new IOException("bad status line: " + status);
      }
      int code;
      try {
        code = Integer.parseInt(parts[1]);
      } catch (NumberFormatException e) {
        throw new IOException("bad status line: " + status);
      }
      Map<String, String> headers = new HashMap<>();
      for (int n = 0; ; n++) {
        String line = readLine(in, false);
        if (line.isEmpty()) break;
        if (n >= MAX_HEADERS) throw new IOException("too many answer headers");
        int colon = line.indexOf(':');
        if (colon <= 0) throw new IOException("bad header line: " + line);
        headers.put(
            line.substring(0, colon).trim().toLowerCase(Locale.ROOT), line.substring(colon + 1).trim());
      }
      if (code >= 100 && code < 200) continue;  // interim answer
      byte[] body;
      String te = headers.get("transfer-encoding");
      String cl = headers.get("content-length");
      if (head || code == 204 || code == 304) {
        body = new byte[0];
      } else if (te != null && te.toLowerCase(Locale.ROOT).contains("chunked")) {
        body = readChunked(in);
      } else if (cl != null) {
        long len;
        try {
          len = Long.parseLong(cl);
        } catch (NumberFormatException e) {
          throw new IOException("bad Content-Length: " + cl);
        }
        if (len < 0 || len > MAX_RESPONSE_BODY) throw new IOException("answer body too large: " + len);
        body = readFully(in, (int) len);
      } else {
        body = readToClose(in);
        headers.put("connection", "close");
      }
      return new Response(code, parts.length > 2 ? parts[2] : "", headers, body);
    }
  }

  private static byte[] readFully(InputStream in, int len) throws IOException {
    byte[] b = new byte[len];
    int off = 0;
    while (off < len) {
      int n = in.read(b, off, len - off);
      if (n < 0) throw new EOFException("connection closed inside the answer body");
      off += n;
    }
    return b;
  }

  private static byte[] readChunked(InputStream in) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    while (true) {
      String line = readLine(in, false);
      int semi = line.indexOf(';');
      String hex = (semi >= 0 ? line.substring(0, semi) : line).trim();
      int size;
      try {
        size = Integer.parseInt(hex, 16);
      } catch (NumberFormatException e) {
        throw new IOException("bad chunk size: " + line);
      }
      if (size < 0 || out.size() + (long) size > MAX_RESPONSE_BODY) {
        throw new IOException("answer body too large");
      }
      if (size == 0) {
        while (!readLine(in, false).isEmpty()) {
          // trailers
        }
        return out.toByteArray();
      }
      out.write(readFully(in, size));
      readLine(in, false);
    }
  }

  private static byte[] readToClose(InputStream in) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] buf = new byte[8192];
    int n;
    while ((n = in.read(buf)) >= 0) {
      out.write(buf, 0, n);
      if (out.size() > MAX_RESPONSE_BODY) throw new IOException("answer body too large");
    }
    return out.toByteArray();
  }
}
