// Drives the GENUINE Java Core SDK 1.5.0 (lib/GreengrassJavaSDK.jar, bundled by the test from
// <shared>/vendor) and reports each outcome as JSON (Jackson from the genuine jar) on
// event.reply through the genuine IotDataClient. Compiled against the genuine jar only (plus the
// core-provided runtime classes), so every SDK class used here is the genuine one.
//
// handle(Map, Context)         op = whoami | publish | invoke | shadow | secret
// binary(InputStream, OutputStream)  binary encoding: answers the input reversed
package com.example.genuine;

import com.amazonaws.greengrass.javasdk.IotDataClient;
import com.amazonaws.greengrass.javasdk.LambdaClient;
import com.amazonaws.greengrass.javasdk.SecretsManagerClient;
import com.amazonaws.greengrass.javasdk.model.DeleteThingShadowRequest;
import com.amazonaws.greengrass.javasdk.model.GetSecretValueRequest;
import com.amazonaws.greengrass.javasdk.model.GetSecretValueResult;
import com.amazonaws.greengrass.javasdk.model.GetThingShadowRequest;
import com.amazonaws.greengrass.javasdk.model.InvocationType;
import com.amazonaws.greengrass.javasdk.model.InvokeRequest;
import com.amazonaws.greengrass.javasdk.model.InvokeResponse;
import com.amazonaws.greengrass.javasdk.model.PublishRequest;
import com.amazonaws.greengrass.javasdk.model.QueueFullPolicy;
import com.amazonaws.greengrass.javasdk.model.UpdateThingShadowRequest;
import com.amazonaws.services.lambda.runtime.Context;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public class GenuineSdk {
  private static final ObjectMapper JSON = new ObjectMapper();
  private final IotDataClient iot = new IotDataClient();
  private final LambdaClient lambda = new LambdaClient();
  private final SecretsManagerClient secrets = new SecretsManagerClient();

  public Map<String, Object> handle(Map<String, Object> ev, Context ctx) throws Exception {
    Map<String, Object> out;
    try {
      out = run(ev);
    } catch (Exception e) {
      out = error(e);
    }
    out.put("tag", ev.get("tag"));
    String reply = ev.containsKey("reply") ? (String) ev.get("reply") : "genuine/java/result";
    iot.publish(new PublishRequest().withTopic(reply)
        .withPayload(ByteBuffer.wrap(JSON.writeValueAsBytes(out))));
    return out;
  }

  public void binary(InputStream in, OutputStream out) throws Exception {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    byte[] buf = new byte[4096];
    for (int n; (n = in.read(buf)) > 0; ) b.write(buf, 0, n);
    byte[] data = b.toByteArray();
    for (int i = data.length - 1; i >= 0; i--) out.write(data[i]);
  }

  private static Map<String, Object> error(Throwable e) {
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("error_type", e.getClass().getName());
    out.put("error", e.getMessage());
    List<String> causes = new ArrayList<>();
    for (Throwable c = e.getCause(); c != null && causes.size() < 4; c = c.getCause()) {
      causes.add(c.getClass().getName() + ": " + c.getMessage());
    }
    out.put("causes", causes);
    return out;
  }

  private static String str(Map<String, Object> ev, String key) {
    Object v = ev.get(key);
    return v == null ? null : v.toString();
  }

  /** The genuine getters (InvokeResponse.getPayload, GetSecretValueResult.getSecretBinary)
   *  call duplicate() on the field, so they throw when it is unset: report that as null. */
  private static String b64(java.util.concurrent.Callable<ByteBuffer> getter) throws Exception {
    try {
      return b64(getter.call());
    } catch (NullPointerException e) {
      return null;
    }
  }

  private static String b64(ByteBuffer b) {
    if (b == null) return null;
    ByteBuffer d = b.duplicate();
    byte[] a = new byte[d.remaining()];
    d.get(a);
    return Base64.getEncoder().encodeToString(a);
  }

  private Map<String, Object> run(Map<String, Object> ev) throws Exception {
    Map<String, Object> out = new LinkedHashMap<>();
    String op = str(ev, "op");
    switch (op) {
      case "whoami":
        out.put("sdk_jar", IotDataClient.class.getProtectionDomain().getCodeSource().getLocation().getPath());
        out.put("interface", com.amazonaws.greengrass.javasdk.InterfaceVersion.class.getField("INTERFACE_VERSION").get(null));
        // A class only the genuine jar has (our SDK has no GGSecretsManagerErrorResponse).
        out.put("genuine_only", Class.forName("com.amazonaws.greengrass.javasdk.model.GGSecretsManagerErrorResponse").getName());
        return out;
      case "publish": {
        PublishRequest r = new PublishRequest().withTopic(str(ev, "topic"))
            .withPayload(ByteBuffer.wrap(Base64.getDecoder().decode(str(ev, "payload_b64"))));
        if (ev.containsKey("policy")) r.withQueueFullPolicy(QueueFullPolicy.valueOf(str(ev, "policy")));
        out.put("result", iot.publish(r) != null ? "PublishResult" : null);
        return out;
      }
      case "invoke": {
        InvokeRequest r = new InvokeRequest().withFunctionArn(str(ev, "target"));
        if (ev.containsKey("qualifier")) r.withQualifier(str(ev, "qualifier"));
        if (ev.containsKey("type")) r.withInvocationType(InvocationType.valueOf(str(ev, "type")));
        if (ev.containsKey("client_context")) r.withClientContext(str(ev, "client_context"));
        r.withPayload(ByteBuffer.wrap(Base64.getDecoder().decode(
            ev.containsKey("payload_b64") ? str(ev, "payload_b64") : "")));
        InvokeResponse resp = lambda.invoke(r);
        out.put("statusCode", resp.getStatusCode());
        out.put("functionError", resp.getFunctionErr());
        out.put("payload_b64", b64(resp::getPayload));
        return out;
      }
      case "shadow": {
        String thing = str(ev, "thing");
        String action = str(ev, "action");
        ByteBuffer p;
        if (action.equals("get")) {
          p = iot.getThingShadow(new GetThingShadowRequest().withThingName(thing)).getPayload();
        } else if (action.equals("update")) {
          byte[] doc = JSON.writeValueAsBytes(ev.get("doc"));
          p = iot.updateThingShadow(new UpdateThingShadowRequest().withThingName(thing)
              .withPayload(ByteBuffer.wrap(doc))).getPayload();
        } else {
          p = iot.deleteThingShadow(new DeleteThingShadowRequest().withThingName(thing)).getPayload();
        }
        out.put("payload", JSON.readValue(Base64.getDecoder().decode(b64(p)), Object.class));
        return out;
      }
      case "secret": {
        GetSecretValueRequest r = new GetSecretValueRequest().withSecretId(str(ev, "SecretId"));
        if (ev.containsKey("VersionStage")) r.withVersionStage(str(ev, "VersionStage"));
        if (ev.containsKey("VersionId")) r.withVersionId(str(ev, "VersionId"));
        GetSecretValueResult s = secrets.getSecretValue(r);
        Map<String, Object> res = new LinkedHashMap<>();
        res.put("ARN", s.getARN());
        res.put("Name", s.getName());
        res.put("VersionId", s.getVersionId());
        res.put("SecretString", s.getSecretString());
        res.put("SecretBinary", b64(s::getSecretBinary));
        res.put("VersionStages", s.getVersionStages());
        res.put("CreatedDate", s.getCreatedDate() == null ? null : s.getCreatedDate().getTime());
        out.put("result", res);
        return out;
      }
      default:
        throw new IllegalArgumentException("unknown op " + op);
    }
  }

  static String utf8(byte[] b) {
    return new String(b, StandardCharsets.UTF_8);
  }
}
