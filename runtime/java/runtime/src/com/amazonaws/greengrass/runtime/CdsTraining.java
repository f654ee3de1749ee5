// Evergreen: the training run that builds the runtime jar's AppCDS archive (issue 17).
//
// Run at build/install time as
//   java -XX:ArchiveClassesAtExit=evergreen-lambda-runtime.jsa -cp evergreen-lambda-runtime.jar \
//        com.amazonaws.greengrass.runtime.CdsTraining
// It drives the worker's real start-up path (LambdaRuntime.run: log sink, SIGTERM handler,
// handler resolution by reflection, IPC client over a loopback socket, E6 initialization, one E3
// work item, a publish-like POST from the handler, E4 result) against an in-process fake IPC
// server, so the archive holds every class (runtime and JDK) a worker loads before its first
// answer. The fake server then closes the connection; with EVERGREEN_RUNTIME_MAX_IPC_FAILURES=1
// the loop gives up and the JVM exits, writing the archive. No function code is involved: the
// archive holds no user classes and no state (CDS stores class metadata only).
package com.amazonaws.greengrass.runtime;

import com.amazonaws.greengrass.ipcsdk.DefaultIPCClient;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

public final class CdsTraining {
  /** The fake IPC server's port (also GG_DAEMON_PORT of the run). */
  public static volatile int port;
  private static volatile boolean served;

  /** The training handler (binary): reads the payload, posts it like a publish, echoes it. */
  public void handle(InputStream in, OutputStream out) throws Exception {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    byte[] buf = new byte[4096];
    int n;
    while ((n = in.read(buf)) > 0) b.write(buf, 0, n);
    DefaultIPCClient c = new DefaultIPCClient("127.0.0.1", port, "training");
    c.postWork("arn:aws:lambda:::function:GGRouter", "Event", b.toByteArray(),
        "eyJjdXN0b20iOnsic3ViamVjdCI6InQifX0=");
    out.write(b.toByteArray());
  }

  public static void main(String[] argv) throws Exception {
    ServerSocket server = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
    port = server.getLocalPort();
    Thread t = new Thread(() -> acceptLoop(server), "cds-training-server");
    t.setDaemon(true);
    t.start();
    Map<String, String> env = new HashMap<>();
    env.put("MY_FUNCTION_ARN", "arn:aws:lambda:us-east-1:123456789012:function:CdsTraining:1");
    env.put("AWS_CONTAINER_AUTHORIZATION_TOKEN", "training");
    env.put("ENCODING_TYPE", "binary");
    env.put("GG_DAEMON_PORT", Integer.toString(port));
    env.put("EVERGREEN_RUNTIME_MAX_IPC_FAILURES", "1");
    env.put("EVERGREEN_FUNCTION_TIMEOUT_MS", "3000");
    env.put("LOG_LEVEL", "ERROR");
    // argv[0] may name another binary handler (measuring a function's start by hand).
    String handler = argv.length > 0 ? argv[0] : "com.amazonaws.greengrass.runtime.CdsTraining::handle";
    int code = LambdaRuntime.run(new String[] {"--handler=" + handler}, env);
    server.close();
    if (!served || code != LambdaRuntime.EXIT_IPC_FAILURE) {
      System.err.println("CDS training run did not complete (exit " + code + ")");
      System.exit(1);
    }
    System.exit(0);
  }

  private static void acceptLoop(ServerSocket server) {
    while (!server.isClosed()) {
      try {
        Socket s = server.accept();
        Thread t = new Thread(() -> serve(s), "cds-training-conn");
        t.setDaemon(true);
        t.start();
      } catch (IOException e) {
        return;
      }
    }
  }

  private static void serve(Socket s) {
    try (Socket sock = s) {
      sock.setTcpNoDelay(true);
      InputStream in = sock.getInputStream();
      OutputStream out = sock.getOutputStream();
      while (true) {
        String head = readHead(in);
        if (head == null) return;
        int len = 0;
        for (String line : head.split("\r\n")) {
          if (line.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
            len = Integer.parseInt(line.substring(15).trim());
          }
        }
        for (int i = 0; i < len; i++) {
          if (in.read() < 0) return;
        }
        String body = "";
        String extra = "";
        if (head.startsWith("GET ") && head.contains("/work")) {
          if (served) return;  // the second long poll: close -> the runtime gives up
          served = true;
          body = "training";
          extra = "X-Amz-InvocationId: 00000000-0000-0000-0000-000000000001\r\n"
              + "X-Amz-Client-Context: eyJjdXN0b20iOnsic3ViamVjdCI6InQifX0=\r\n";
        } else if (head.startsWith("POST ") && !head.contains("/work")) {
          extra = "X-Amz-InvocationId: 00000000-0000-0000-0000-000000000002\r\n";
        }
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        out.write(("HTTP/1.1 200 OK\r\n" + extra + "Content-Length: " + b.length + "\r\n\r\n")
            .getBytes(StandardCharsets.UTF_8));
        out.write(b);
        out.flush();
      }
    } catch (IOException e) {
      // the runtime closed its connection
    }
  }

  private static String readHead(InputStream in) throws IOException {
    StringBuilder sb = new StringBuilder();
    int c;
    while ((c = in.read()) >= 0) {
      sb.append((char) c);
      int n = sb.length();
      if (n >= 4 && sb.charAt(n - 4) == '\r' && sb.charAt(n - 3) == '\n'
          && sb.charAt(n - 2) == '\r' && sb.charAt(n - 1) == '\n') {
        return sb.toString();
      }
    }
    return null;
  }
}
