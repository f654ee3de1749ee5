// Evergreen: unit tests of the Java runtime and SDK, JUnit-free (CTest: runtime_java).
// Each test is a method named test*; a failure prints the test and exits 1.
package com.amazonaws.greengrass.runtime.test;

import com.amazonaws.greengrass.common.FunctionArnFields;
import com.amazonaws.greengrass.common.InvalidArnException;
import com.amazonaws.greengrass.ipcsdk.DefaultIPCClient;
import com.amazonaws.greengrass.ipcsdk.IPCClient;
import com.amazonaws.greengrass.ipcsdk.HttpStatusException;
import com.amazonaws.greengrass.ipcsdk.IPCException;
import com.amazonaws.greengrass.ipcsdk.WorkItem;
import com.amazonaws.greengrass.ipcsdk.WorkResult;
import com.amazonaws.greengrass.javasdk.IotDataClient;
import com.amazonaws.greengrass.javasdk.LambdaClient;
import com.amazonaws.greengrass.javasdk.SecretsManagerClient;
import com.amazonaws.greengrass.javasdk.model.GetSecretValueRequest;
import com.amazonaws.greengrass.javasdk.model.GetSecretValueResult;
import com.amazonaws.greengrass.javasdk.model.InvalidLambdaRequestException;
import com.amazonaws.greengrass.javasdk.model.InvalidSecretsManagerRequestException;
import com.amazonaws.greengrass.javasdk.model.InvocationType;
import com.amazonaws.greengrass.javasdk.model.InvokeRequest;
import com.amazonaws.greengrass.javasdk.model.InvokeResponse;
import com.amazonaws.greengrass.javasdk.model.PublishRequest;
import com.amazonaws.greengrass.javasdk.model.QueueFullPolicy;
import com.amazonaws.greengrass.javasdk.model.SecretResourceNotFoundException;
import com.amazonaws.greengrass.runtime.Handler;
import com.amazonaws.greengrass.runtime.Json;
import com.amazonaws.greengrass.runtime.LambdaContext;
import com.amazonaws.services.lambda.runtime.ClientContext;
import com.amazonaws.services.lambda.runtime.Context;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

public final class RuntimeSelfTest {
  // ------------------------------------------------------------ helpers

  static void check(boolean cond, String what) {
    if (!cond) throw new AssertionError(what);
  }

  static void eq(Object expected, Object actual, String what) {
    if (expected == null ? actual != null : !expected.equals(actual)) {
      throw new AssertionError(what + ": expected <" + expected + "> but was <" + actual + ">");
    }
  }

  interface Body {
    void run() throws Exception;
  }

  static Throwable thrown(Body b) {
    try {
      b.run();
    } catch (Throwable t) {
      return t;
    }
    throw new AssertionError("expected an exception");
  }

  static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  static String str(byte[] b) {
    return new String(b, StandardCharsets.UTF_8);
  }

  static Context ctx(String clientContext) {
    ClientContext cc = LambdaContext.decodeClientContext(clientContext);
    return new LambdaContext(
        "req-1",
        "arn:aws:lambda:us-east-1:123456789012:function:Fn:3",
        "Fn",
        "3",
        "/Lambda/us-east-1/123456789012/Fn",
        cc,
        System.nanoTime() + 3_000_000_000L,
        16,
        m -> {});
  }

  // ------------------------------------------------------------ handler fixtures

  public static class Pojo {
    private String name;
    private int count;
    private List<Integer> values;
    public Map<String, Object> extra;

    public String getName() {
      return name;
    }

    public void setName(String name) {
      this.name = name;
    }

    public int getCount() {
      return count;
    }

    public void setCount(int count) {
      this.count = count;
    }

    public List<Integer> getValues() {
      return values;
    }

    public void setValues(List<Integer> values) {
      this.values = values;
    }
  }

  public static class Overloads {
    public String handle() {
      return "0";
    }

    public String handle(Map<String, Object> event) {
      return "1";
    }

    public String handle(Map<String, Object> event, Context c) {
      return "2:" + event.get("k") + ":" + c.getAwsRequestId();
    }
  }

  public static class ContextTie {
    public String handle(Object o) {
      return "object";
    }

    public String handle(Context c) {
      return "context";
    }
  }

  public static class Streams {
    public void handle(InputStream in) {}

    public void handle(InputStream in, OutputStream out) throws IOException {
      out.write(utf8("two"));
    }

    public void handle(InputStream in, OutputStream out, Context c) throws IOException {
      int b;
      while ((b = in.read()) >= 0) out.write(b);
      out.write(utf8("|" + c.getFunctionName()));
    }

    public String handle(Map<String, Object> m, Context c) {
      return "json";
    }
  }

  public static class StreamTie {
    public void handle(InputStream in, OutputStream out) throws IOException {
      out.write('A');
    }

    public void handle(OutputStream out, Context c) throws IOException {
      out.write('C');
    }
  }

  public static class Pojos {
    private int calls;

    public Pojo handle(Pojo in, Context c) {
      calls++;
      in.setCount(in.getCount() + calls);
      return in;
    }
  }

  public static class Statics {
    public static int twice(int x) {
      return 2 * x;
    }

    public static void nothing() {}

    public static String fail(Map<String, Object> m) {
      throw new IllegalStateException("boom " + m.get("why"));
    }

    public static byte[] raw(byte[] in) {
      byte[] out = Arrays.copyOf(in, in.length);
      for (int i = 0; i < out.length; i++) out[i] ^= 0x20;
      return out;
    }
  }

  public static class NoFit {
    public String handle(String a, String b, String c) {
      return a;
    }
  }

  public static class Generic implements com.amazonaws.services.lambda.runtime.RequestHandler<Map<String, Object>, String> {
    @Override
    public String handleRequest(Map<String, Object> input, Context context) {
      return "generic:" + input.get("k");
    }
  }

  static Handler load(String spec, boolean binary) throws Handler.LoadException {
    return Handler.load(spec, binary, RuntimeSelfTest.class.getClassLoader());
  }

  static final String P = RuntimeSelfTest.class.getName() + "$";

  // ------------------------------------------------------------ tests

  static void testJsonRoundTrip() throws Exception {
    Object v = Json.parse("{\"a\":[1,2.5,-3e2,true,false,null,\"x\\n\\u00e9\\\"\"],\"b\":{},\"c\":[],\"big\":123456789012345678901234}");
    String w = Json.write(v);
    eq("{\"a\":[1,2.5,-300.0,true,false,null,\"x\\né\\\"\"],\"b\":{},\"c\":[],\"big\":123456789012345678901234}", w, "round trip");
    eq(v, Json.parse(w), "reparse");
    eq("\"\\u0001\"", Json.write("\u0001"), "control chars escaped");
  }

  static void testJsonErrorsNamePosition() {
    for (String bad : new String[] {"", "{", "{\"a\" 1}", "[1,]", "tru", "01", "\"\\x\"", "{} x", "[1 2]"}) {
      Throwable t = thrown(() -> Json.parse(bad));
      check(t instanceof Json.JsonException, "JsonException for " + bad + ": " + t);
      check(t.getMessage().contains("at character"), "position named: " + t.getMessage());
    }
    StringBuilder deep = new StringBuilder();
    for (int i = 0; i < Json.MAX_DEPTH + 5; i++) deep.append('[');
    Throwable t = thrown(() -> Json.parse(deep.toString()));
    check(t.getMessage().contains("deeper"), "depth bound: " + t.getMessage());
  }

  static void testJsonConvertBeans() throws Exception {
    Object v = Json.parse("{\"Name\":\"n\",\"count\":\"7\",\"values\":[1,2],\"extra\":{\"z\":1},\"unknown\":true}");
    Pojo p = (Pojo) Json.convert(v, Pojo.class);
    eq("n", p.getName(), "case-insensitive setter");
    eq(7, p.getCount(), "string to int");
    eq(Arrays.asList(1, 2), p.getValues(), "generic list");
    eq(1L, p.extra.get("z"), "public field");
    eq("{\"count\":7,\"extra\":{\"z\":1},\"name\":\"n\",\"values\":[1,2]}", Json.write(p), "bean out");
    Throwable t = thrown(() -> Json.convert(Json.parse("{\"count\":[1]}"), Pojo.class));
    check(t.getMessage().contains("count"), "names the property: " + t.getMessage());
  }

  static void testOverloadMostParametersWins() throws Exception {
    Handler h = load(P + "Overloads::handle", false);
    eq(2, h.method().getParameterCount(), "chosen arity");
    eq("\"2:v:req-1\"", str(h.invoke(utf8("{\"k\":\"v\"}"), ctx(""))), "result");
  }

  static void testOverloadTieLastParameterContext() throws Exception {
    Handler h = load(P + "ContextTie::handle", false);
    eq(Context.class, h.method().getParameterTypes()[0], "Context wins the tie");
    eq("\"context\"", str(h.invoke(utf8("{}"), ctx(""))), "result");
    Handler b = load(P + "StreamTie::handle", true);
    eq("C", str(b.invoke(new byte[0], ctx(""))), "binary tie -> (OutputStream, Context)");
  }

  static void testBinaryPrefersStreamSignatures() throws Exception {
    Handler b = load(P + "Streams::handle", true);
    eq(3, b.method().getParameterCount(), "3-parameter stream form");
    eq("\u0000\u00ffab|Fn", new String(b.invoke(new byte[] {0, (byte) 0xff, 'a', 'b'}, ctx("")), StandardCharsets.ISO_8859_1), "stream echo");
    Handler j = load(P + "Streams::handle", false);
    eq("\"json\"", str(j.invoke(utf8("{}"), ctx(""))), "JSON function uses the JSON form");
    Handler r = load(P + "Statics::raw", true);
    eq("ABC", str(r.invoke(utf8("abc"), ctx(""))), "binary byte[] in/out (JSON form as fallback)");
  }

  static void testJsonPojoAndStaticHandlers() throws Exception {
    Handler h = load(P + "Pojos::handle", false);
    eq("{\"count\":2,\"extra\":null,\"name\":\"a\",\"values\":null}", str(h.invoke(utf8("{\"name\":\"a\",\"count\":1}"), ctx(""))), "first");
    eq("{\"count\":3,\"extra\":null,\"name\":\"a\",\"values\":null}", str(h.invoke(utf8("{\"name\":\"a\",\"count\":1}"), ctx(""))), "instance state kept");
    eq("42", str(load(P + "Statics::twice", false).invoke(utf8("21"), ctx(""))), "static int");
    eq("null", str(load(P + "Statics::nothing", false).invoke(utf8("{}"), ctx(""))), "void -> null");
    eq("\"generic:g\"", str(load(P + "Generic", false).invoke(utf8("{\"k\":\"g\"}"), ctx(""))), "RequestHandler, default method name, no bridge");
  }

  static void testHandlerErrors() throws Exception {
    Handler f = load(P + "Statics::fail", false);
    Throwable t = thrown(() -> f.invoke(utf8("{\"why\":\"w\"}"), ctx("")));
    check(t instanceof InvocationTargetException, "wrapped");
    eq("boom w", t.getCause().getMessage(), "cause");
    Throwable p = thrown(() -> f.invoke(utf8("not json"), ctx("")));
    check(p instanceof Handler.PayloadException && p.getMessage().startsWith("Could not parse the payload as JSON"), "payload: " + p);
    Throwable l = thrown(() -> load(P + "NoFit::handle", false));
    check(l.getMessage().contains("no public method handle") && l.getMessage().contains("found:"), l.getMessage());
    Throwable c = thrown(() -> load("no.such.Cls::h", false));
    check(c.getMessage().contains("class no.such.Cls not found"), c.getMessage());
    Throwable s = thrown(() -> load(P + "Overloads::", false));
    check(s.getMessage().contains("not of the form"), s.getMessage());
  }

  static void testArnFields() throws Exception {
    FunctionArnFields f = FunctionArnFields.fromString("arn:aws:lambda:us-east-1:123456789012:function:Fn:PROD");
    eq("PROD", f.getQualifier(), "qualifier");
    eq("arn:aws:lambda:us-east-1:123456789012:function:Fn", f.getUnqualifiedArn(), "unqualified");
    // null, not "": the genuine SDK's LambdaClient treats any non-null qualifier as the ARN's.
    eq(null, FunctionArnFields.fromString("arn:aws:lambda:::function:GGRouter").getQualifier(), "system ARN");
    eq(null, FunctionArnFields.fromString("arn:aws:lambda:r:1:function:F").getQualifier(), "unqualified");
    eq("arn:aws:lambda:r:1:function:F", FunctionArnFields.fromString("arn:aws:lambda:r:1:function:F").toArnString(), "unqualified round trip");
    eq("GGSecretManager", FunctionArnFields.fromString("arn:aws:lambda:::function:GGSecretManager:1").getName(), "name");
    for (String bad : new String[] {"Fn", "arn:aws:s3:::bucket", "arn:aws:lambda:r:a:function:", ""}) {
      check(thrown(() -> FunctionArnFields.fromString(bad)) instanceof InvalidArnException, bad);
    }
  }

  static void testClientContext() {
    String b64 = Base64.getEncoder().encodeToString(utf8("{\"custom\":{\"subject\":\"t/1\",\"n\":2},\"client\":{\"app_title\":\"x\"},\"env\":{\"e\":\"1\"}}"));
    Context c = ctx(b64);
    eq("t/1", c.getClientContext().getCustom().get("subject"), "custom.subject");
    eq("2", c.getClientContext().getCustom().get("n"), "non-string custom value as JSON");
    eq("x", c.getClientContext().getClient().getAppTitle(), "client");
    eq("1", c.getClientContext().getEnvironment().get("e"), "env");
    eq(null, ctx("").getClientContext(), "empty");
    check(thrown(() -> LambdaContext.decodeClientContext("%%%")) instanceof IllegalArgumentException, "bad base64");
    check(c.getRemainingTimeInMillis() > 2000 && c.getRemainingTimeInMillis() <= 3000, "remaining time");
  }

  /** A scripted HTTP server: answers each request with the next canned answer. */
  static final class Scripted implements AutoCloseable {
    final ServerSocket server = new ServerSocket(0, 10, java.net.InetAddress.getLoopbackAddress());
    final List<String> requests = new ArrayList<>();
    final AtomicInteger connections = new AtomicInteger();
    final Thread thread;

    Scripted(final String... answers) throws IOException {
      thread =
          new Thread(
              () -> {
                int next = 0;
                try {
                  while (next < answers.length) {
                    try (Socket s = server.accept()) {
                      connections.incrementAndGet();
                      InputStream in = s.getInputStream();
                      while (next < answers.length) {
                        String req = readRequest(in);
                        if (req == null) break;
                        synchronized (requests) {
                          requests.add(req);
                        }
                        String a = answers[next++];
                        if (a.equals("CLOSE")) break;  // drop the connection without answering
                        s.getOutputStream().write(utf8(a));
                        s.getOutputStream().flush();
                      }
                    }
                  }
                } catch (IOException e) {
                  // closed
                }
              });
      thread.setDaemon(true);
      thread.start();
    }

    static String readRequest(InputStream in) throws IOException {
      ByteArrayOutputStream b = new ByteArrayOutputStream();
      int c;
      while ((c = in.read()) >= 0) {
        b.write(c);
        String s = b.toString("UTF-8");
        if (s.endsWith("\r\n\r\n")) {
          int i = s.toLowerCase(java.util.Locale.ROOT).indexOf("content-length: ");
          if (i >= 0) {
            int n = Integer.parseInt(s.substring(i + 16, s.indexOf("\r\n", i)).trim());
            for (int k = 0; k < n; k++) b.write(in.read());
          }
          return b.toString("UTF-8");
        }
      }
      return null;
    }

    int port() {
      return server.getLocalPort();
    }

    @Override
    public void close() throws IOException {
      server.close();
    }
  }

  static void testIpcClientPipelinesResultAndNextPoll() throws Exception {
    String ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    String work = "HTTP/1.1 200 OK\r\nX-Amz-InvocationId: w2\r\nX-Amz-Client-Context: Y2M=\r\nContent-Length: 2\r\n\r\nw2";
    String refused = "HTTP/1.1 404 Not Found\r\nContent-Length: 7\r\n\r\nunknown";
    String arn = "arn:aws:lambda:r:1:function:F:1";
    try (Scripted s = new Scripted(ok, work, refused, work, ok, "CLOSE", work)) {
      DefaultIPCClient c = new DefaultIPCClient("localhost", s.port(), "tok");
      List<String> refusals = new ArrayList<>();
      WorkItem w = c.postWorkResultAndGetWork(arn, "a", utf8("ra"), e -> refusals.add(e.getMessage()));
      eq("w2", w.getInvocationId(), "next work");
      eq("w2", str(w.getPayload()), "next payload");
      eq("Y2M=", w.getClientContext(), "next client context");
      eq(0, refusals.size(), "no refusal");
      // The result refused (the invocation had timed out), the poll got work: it is returned.
      w = c.postWorkResultAndGetWork(arn, "b", utf8("rb"), e -> refusals.add(e.getMessage()));
      eq("w2", w.getInvocationId(), "work behind a refused result");
      check(refusals.size() == 1 && refusals.get(0).startsWith("HTTP Error 404"), "refusal reported: " + refusals);
      eq(1, s.connections.get(), "both pairs on one connection");
      // The result is in, then the server drops the connection: polled again on a new one.
      w = c.postWorkResultAndGetWork(arn, "c", utf8("rc"), null);
      eq("w2", w.getInvocationId(), "polled again");
      synchronized (s.requests) {
        check(s.requests.get(0).startsWith("POST /2016-11-01/functions/" + arn + "/work HTTP/1.1\r\n")
            && s.requests.get(0).contains("X-Amz-InvocationId: a\r\n") && s.requests.get(0).endsWith("ra"), s.requests.get(0));
        check(s.requests.get(1).startsWith("GET /2016-11-01/functions/" + arn + "/work HTTP/1.1\r\n"), s.requests.get(1));
        eq(7, s.requests.size(), "requests seen");
      }
    }
  }

  static void testIpcClientKeepAliveChunkedAndErrors() throws Exception {
    String ok = "HTTP/1.1 200 OK\r\nX-Amz-InvocationId: id-1\r\nX-Amz-Client-Context: Y2M=\r\nContent-Length: 5\r\n\r\nhello";
    String chunked = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Amz-Function-Error: \r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    String notFound = "HTTP/1.1 404 Not Found\r\nContent-Length: 7\r\n\r\nmissing";
    try (Scripted s = new Scripted(ok, chunked, notFound, "CLOSE", ok)) {
      DefaultIPCClient c = new DefaultIPCClient("localhost", s.port(), "tok");
      WorkItem w = c.getWork("arn:aws:lambda:r:1:function:F:1");
      eq("id-1", w.getInvocationId(), "invocation id");
      eq("hello", str(w.getPayload()), "body");
      eq("Y2M=", w.getClientContext(), "client context");
      WorkResult r = c.getWorkResult("arn:aws:lambda:r:1:function:F:1", "id-1");
      eq("abcde", str(r.getPayload()), "chunked body after 100");
      eq("", r.getFunctionErr(), "empty function error kept");
      eq(200, r.getStatusCode(), "status");
      Throwable t = thrown(() -> c.postWork("arn:aws:lambda:r:1:function:F:1", "Event", utf8("x"), "Y2M="));
      check(t instanceof IPCException && t.getMessage().startsWith("HTTP Error 404"), "404: " + t.getMessage());
      // The genuine SDK reports "Post work error: " + e.getCause(): the cause names the answer.
      check(t.getCause() instanceof HttpStatusException && ((HttpStatusException) t.getCause()).getStatusCode() == 404
          && t.getCause().toString().contains("HTTP Error 404"), "404 cause: " + t.getCause());
      eq(1, s.connections.get(), "one kept-alive connection for three requests");
      // The server drops the connection: the request is retried once on a new one.
      eq("id-1", c.postWork("arn:aws:lambda:r:1:function:F:1", "Event", utf8("x"), ""), "retried");
      eq(2, s.connections.get(), "reconnected");
      synchronized (s.requests) {
        String first = s.requests.get(0);
        check(first.startsWith("GET /2016-11-01/functions/arn:aws:lambda:r:1:function:F:1/work HTTP/1.1\r\n"), first);
        check(first.contains("\r\nAuthorization: tok\r\n"), first);
        String post = s.requests.get(2);
        check(post.contains("X-Amz-Invocation-Type: Event\r\n") && post.endsWith("\r\n\r\nx"), post);
      }
    }
    DefaultIPCClient c = new DefaultIPCClient("127.0.0.1", 1, "t");
    check(thrown(() -> c.getWork("arn:aws:lambda:::function:X")) instanceof IPCException, "refused -> IPCException");
    check(thrown(() -> c.postWork("arn:aws:lambda:::function:X", "Event\r\nX: y", new byte[0], "")).getMessage().contains("CR, LF"), "header injection refused");
  }

  /** Records SDK calls and answers with canned work results. */
  static final class FakeIpc implements IPCClient {
    final List<String[]> posts = new ArrayList<>();
    final List<byte[]> payloads = new ArrayList<>();
    WorkResult next = new WorkResult(new byte[0], 200, "");

    @Override
    public String postWork(String arn, String type, byte[] payload, String cc) {
      posts.add(new String[] {arn, type, cc});
      payloads.add(payload);
      return "inv-" + posts.size();
    }

    @Override
    public WorkResult getWorkResult(String arn, String id) {
      return next;
    }
  }

  static String unb64(String s) {
    return str(Base64.getDecoder().decode(s));
  }

  static void testSdkPublishAndInvoke() throws Exception {
    FakeIpc f = new FakeIpc();
    IotDataClient iot = new IotDataClient(f);
    iot.publish(new PublishRequest().withTopic("a/\"b").withPayload(ByteBuffer.wrap(utf8("p"))).withQueueFullPolicy(QueueFullPolicy.AllOrException));
    String env = System.getenv("MY_FUNCTION_ARN");
    String src = env == null ? "" : env;
    eq("Event", f.posts.get(0)[1], "publish is an Event");
    eq("{\"custom\":{\"source\":" + Json.quote(src) + ",\"subject\":\"a/\\\"b\",\"queueFullPolicy\":\"AllOrError\"}}", unb64(f.posts.get(0)[2]), "publish context");
    iot.publish(new PublishRequest().withTopic("t").withPayload(ByteBuffer.wrap(utf8("p"))));
    check(!unb64(f.posts.get(1)[2]).contains("queueFullPolicy"), "policy omitted when null");
    eq("p", str(f.payloads.get(1)), "payload");

    LambdaClient l = new LambdaClient(f);
    InvokeResponse ev = l.invoke(new InvokeRequest().withFunctionArn("arn:aws:lambda:r:1:function:F").withQualifier("PROD").withInvocationType(InvocationType.Event));
    eq(202, ev.getStatusCode(), "Event -> 202");
    eq("arn:aws:lambda:r:1:function:F:PROD", f.posts.get(2)[0], "qualifier appended");
    f.next = new WorkResult(utf8("{\"errorMessage\":\"x\"}"), 200, "Handled");
    InvokeResponse rr = l.invoke(new InvokeRequest().withFunctionArn("arn:aws:lambda:r:1:function:F:1").withPayload(ByteBuffer.wrap(utf8("{}"))));
    eq("Handled", rr.getFunctionError(), "function error");
    eq("{\"errorMessage\":\"x\"}", str(rr.getPayload().array()), "payload");
    eq("RequestResponse", f.posts.get(3)[1], "default type");
    check(thrown(() -> l.invoke(new InvokeRequest().withFunctionArn("F"))) instanceof InvalidLambdaRequestException, "plain name refused");
    check(thrown(() -> l.invoke(new InvokeRequest().withFunctionArn("arn:aws:lambda:r:1:function:F:1").withClientContext("not base64!"))) instanceof InvalidLambdaRequestException, "bad client context");
  }

  static void testSdkSecrets() throws Exception {
    FakeIpc f = new FakeIpc();
    SecretsManagerClient s = new SecretsManagerClient(f);
    f.next = new WorkResult(utf8("{\"ARN\":\"arn:s\",\"Name\":\"n\",\"VersionId\":\"v\",\"SecretString\":\"sec\",\"SecretBinary\":null,\"VersionStages\":[\"AWSCURRENT\"],\"CreatedDate\":1500000000000}"), 200, "");
    GetSecretValueResult r = s.getSecretValue(new GetSecretValueRequest().withSecretId("n").withVersionStage("AWSCURRENT"));
    eq("sec", r.getSecretString(), "string");
    eq(1500000000000L, r.getCreatedDate().getTime(), "created");
    eq(Arrays.asList("AWSCURRENT"), r.getVersionStages(), "stages");
    eq("{\"SecretId\":\"n\",\"VersionStage\":\"AWSCURRENT\"}", str(f.payloads.get(0)), "request body");
    eq("", f.posts.get(0)[2], "empty client context");
    f.next = new WorkResult(utf8("{\"Status\":404,\"Message\":\"no such secret\"}"), 200, "");
    Throwable t = thrown(() -> s.getSecretValue(new GetSecretValueRequest().withSecretId("x")));
    check(t instanceof SecretResourceNotFoundException && t.getMessage().equals("no such secret"), "404: " + t);
    check(thrown(() -> s.getSecretValue(new GetSecretValueRequest().withSecretId("x").withVersionId("1"))) instanceof InvalidSecretsManagerRequestException, "VersionId refused");
  }

  public static void main(String[] args) throws Exception {
    int failed = 0;
    int run = 0;
    for (Method m : RuntimeSelfTest.class.getDeclaredMethods()) {
      if (!m.getName().startsWith("test") || m.getParameterCount() != 0) continue;
      run++;
      try {
        m.invoke(null);
        System.out.println("[ OK ] " + m.getName());
      } catch (InvocationTargetException e) {
        failed++;
        System.out.println("[FAIL] " + m.getName() + ": " + e.getCause());
        e.getCause().printStackTrace(System.out);
      }
    }
    System.out.println(run + " tests, " + failed + " failed");
    System.exit(failed == 0 && run > 0 ? 0 : 1);
  }
}
