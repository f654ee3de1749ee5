// Evergreen: the Context handed to Java handlers (aws-lambda-java-core 1.1.0 interface), and the
// decoded client context (base64 JSON {"client":{...},"custom":{...},"env":{...}}).
package com.amazonaws.greengrass.runtime;

import com.amazonaws.services.lambda.runtime.Client;
import com.amazonaws.services.lambda.runtime.ClientContext;
import com.amazonaws.services.lambda.runtime.CognitoIdentity;
import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.LambdaLogger;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

public final class LambdaContext implements Context {
  private final String requestId;
  private final String functionArn;
  private final String functionName;
  private final String functionVersion;
  private final String logGroupName;
  private final ClientContext clientContext;
  private final long deadlineNanos;
  private final int memoryLimitMb;
  private final LambdaLogger logger;

  public LambdaContext(
      String requestId,
      String functionArn,
      String functionName,
      String functionVersion,
      String logGroupName,
      ClientContext clientContext,
      long deadlineNanos,
      int memoryLimitMb,
      LambdaLogger logger) {
    this.requestId = requestId;
    this.functionArn = functionArn;
    this.functionName = functionName;
    this.functionVersion = functionVersion;
    this.logGroupName = logGroupName;
    this.clientContext = clientContext;
    this.deadlineNanos = deadlineNanos;
    this.memoryLimitMb = memoryLimitMb;
    this.logger = logger;
  }

  @Override
  public String getAwsRequestId() {
    return requestId;
  }

  @Override
  public String getLogGroupName() {
    return logGroupName;
  }

  @Override
  public String getLogStreamName() {
    return "fromJavaAppender";
  }

  @Override
  public String getFunctionName() {
    return functionName;
  }

  @Override
  public String getFunctionVersion() {
    return functionVersion;
  }

  @Override
  public String getInvokedFunctionArn() {
    return functionArn;
  }

  @Override
  public CognitoIdentity getIdentity() {
    return null;
  }

  @Override
  public ClientContext getClientContext() {
    return clientContext;
  }

  @Override
  public int getRemainingTimeInMillis() {
    long ms = (deadlineNanos - System.nanoTime()) / 1_000_000L;
    return ms <= 0 ? 0 : (int) Math.min(ms, Integer.MAX_VALUE);
  }

  @Override
  public int getMemoryLimitInMB() {
    return memoryLimitMb;
  }

  @Override
  public LambdaLogger getLogger() {
    return logger;
  }

  // ------------------------------------------------------------ client context

  private static final class Ctx implements ClientContext {
    final Client client;
    final Map<String, String> custom;
    final Map<String, String> env;

    Ctx(Client client, Map<String, String> custom, Map<String, String> env) {
      this.client = client;
      this.custom = custom;
      this.env = env;
    }

    @Override
    public Client getClient() {
      return client;
    }

    @Override
    public Map<String, String> getCustom() {
      return custom;
    }

    @Override
    public Map<String, String> getEnvironment() {
      return env;
    }
  }

  private static final class Cli implements Client {
    final Map<String, String> m;

    Cli(Map<String, String> m) {
      this.m = m;
    }

    @Override
    public String getInstallationId() {
      return m.get("installation_id");
    }

    @Override
    public String getAppTitle() {
      return m.get("app_title");
    }

    @Override
    public String getAppVersionName() {
      return m.get("app_version_name");
    }

    @Override
    public String getAppVersionCode() {
      return m.get("app_version_code");
    }

    @Override
    public String getAppPackageName() {
      String p = m.get("app_package_name");
      return p != null ? p : m.get("app_version_package_name");
    }
  }

  private static Map<String, String> strings(Object o) throws Json.JsonException {
    if (!(o instanceof Map)) return null;
    Map<String, String> out = new LinkedHashMap<>();
    for (Map.Entry<?, ?> e : ((Map<?, ?>) o).entrySet()) {
      Object v = e.getValue();
      out.put(String.valueOf(e.getKey()), v == null || v instanceof String ? (String) v : Json.write(v));
    }
    return Collections.unmodifiableMap(out);
  }

  /**
   * Decodes X-Amz-Client-Context; null when empty. Throws IllegalArgumentException naming the
   * problem when it is not base64 JSON object text.
   */
  public static ClientContext decodeClientContext(String header) {
    if (header == null || header.isEmpty()) return null;
    Object doc;
    try {
      doc = Json.parse(new String(Base64.getDecoder().decode(header.trim()), StandardCharsets.UTF_8));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("client context is not base64: " + e.getMessage());
    } catch (Json.JsonException e) {
      throw new IllegalArgumentException("client context is not JSON: " + e.getMessage());
    }
    if (!(doc instanceof Map)) throw new IllegalArgumentException("client context is not a JSON object");
    Map<?, ?> m = (Map<?, ?>) doc;
    try {
      Map<String, String> client = strings(m.get("client"));
      return new Ctx(client == null ? null : new Cli(client), strings(m.get("custom")), strings(m.get("env")));
    } catch (Json.JsonException e) {
      throw new IllegalArgumentException("client context: " + e.getMessage());
    }
  }
}
