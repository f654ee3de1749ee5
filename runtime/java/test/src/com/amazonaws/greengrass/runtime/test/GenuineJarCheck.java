// Evergreen: the GENUINE GreengrassJavaSDK.jar 1.5.0 against our runtime-provided classes
// (CTest runtime_java_genuine; the jar is read from <shared>/vendor, never copied into the repo).
// Run with the runtime jar, this test jar and the genuine jar on the classpath, NOT our SDK jar,
// so com.amazonaws.greengrass.javasdk.* are the genuine classes. They are reached by reflection:
// this file compiles without the genuine jar.
package com.amazonaws.greengrass.runtime.test;

import com.amazonaws.greengrass.ipcsdk.DefaultIPCClient;
import com.amazonaws.greengrass.ipcsdk.IPCClient;
import com.amazonaws.greengrass.ipcsdk.WorkResult;
import java.lang.reflect.InvocationTargetException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

public final class GenuineJarCheck {
  private static final String PKG = "com.amazonaws.greengrass.javasdk.";
  private static final String F = "arn:aws:lambda:us-east-1:123456789012:function:F";

  static final class Recording implements IPCClient {
    final List<String> arns = new ArrayList<>();

    @Override
    public String postWork(String arn, String type, byte[] payload, String clientContext) {
      arns.add(arn);
      return "id-" + arns.size();
    }

    @Override
    public WorkResult getWorkResult(String arn, String id) {
      return new WorkResult(new byte[] {'o', 'k'}, 200, "");
    }
  }

  static Object invoke(Object client, String arn, String qualifier) throws Throwable {
    Class<?> rq = Class.forName(PKG + "model.InvokeRequest");
    Object req = rq.getConstructor().newInstance();
    rq.getMethod("setFunctionArn", String.class).invoke(req, arn);
    if (qualifier != null) rq.getMethod("setQualifier", String.class).invoke(req, qualifier);
    rq.getMethod("setPayload", ByteBuffer.class).invoke(req, ByteBuffer.wrap(new byte[0]));
    try {
      return client.getClass().getMethod("invoke", rq).invoke(client, req);
    } catch (InvocationTargetException e) {
      throw e.getCause();
    }
  }

  static Throwable thrown(Object client, String arn, String qualifier) {
    try {
      invoke(client, arn, qualifier);
    } catch (Throwable t) {
      return t;
    }
    throw new AssertionError("no exception for " + arn + " + " + qualifier);
  }

  public static void main(String[] args) throws Throwable {
    Class<?> lc = Class.forName(PKG + "LambdaClient");
    String where = lc.getProtectionDomain().getCodeSource().getLocation().getPath();
    RuntimeSelfTest.check(where.endsWith("/GreengrassJavaSDK.jar"), "not the genuine jar: " + where);

    Recording rec = new Recording();
    Object client = lc.getConstructor(IPCClient.class).newInstance(rec);
    // Issue 10 item 7: unqualified ARN + withQualifier("PROD") -> ARN:PROD.
    invoke(client, F, "PROD");
    RuntimeSelfTest.eq(F + ":PROD", rec.arns.get(0), "unqualified + qualifier");
    invoke(client, F, null);
    RuntimeSelfTest.eq(F, rec.arns.get(1), "unqualified alone");
    invoke(client, F + ":PROD", "PROD");
    RuntimeSelfTest.eq(F + ":PROD", rec.arns.get(2), "same qualifier twice");
    invoke(client, "arn:aws:lambda:::function:GGRouter", null);
    RuntimeSelfTest.eq("arn:aws:lambda:::function:GGRouter", rec.arns.get(3), "system ARN");
    Throwable t = thrown(client, F + ":PROD", "1");
    RuntimeSelfTest.eq("Invoke Request is invalid", t.getMessage(), "conflict");
    RuntimeSelfTest.eq("Qualifier 1 does not match the function arn " + F + ":PROD",
        t.getCause().getMessage(), "conflict cause");
    t = thrown(client, "NotAnArn", null);
    RuntimeSelfTest.check(t.getCause().getCause().getClass().getName().equals(
        "com.amazonaws.greengrass.common.InvalidArnException"), "InvalidArnException: " + t);

    // Our DefaultIPCClient's errors read well through the genuine "Post work error: " + cause.
    try (RuntimeSelfTest.Scripted s = new RuntimeSelfTest.Scripted(
        "HTTP/1.1 404 Not Found\r\nContent-Length: 7\r\n\r\nmissing")) {
      Object real = lc.getConstructor(IPCClient.class)
          .newInstance(new DefaultIPCClient("localhost", s.port(), "tok"));
      t = thrown(real, F + ":1", null);
      RuntimeSelfTest.eq("Post work error: com.amazonaws.greengrass.ipcsdk.HttpStatusException: "
          + "HTTP Error 404: Not Found missing", t.getMessage(), "IPC failure message");
    }
    System.out.println("[OK] genuine GreengrassJavaSDK.jar " + where);
  }
}
