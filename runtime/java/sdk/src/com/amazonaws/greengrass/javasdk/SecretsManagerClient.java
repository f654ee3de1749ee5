// Evergreen SDK: SecretsManagerClient.getSecretValue (reference section 3.4): RequestResponse to
// GGSecretManager:1 with {"SecretId"[,"VersionStage"]} and an empty client context; a
// {"Status","Message"} answer maps 400/401/404/500 to the SDK's exceptions.
package com.amazonaws.greengrass.javasdk;

import com.amazonaws.greengrass.ipcsdk.IPCClient;
import com.amazonaws.greengrass.ipcsdk.IPCException;
import com.amazonaws.greengrass.ipcsdk.WorkResult;
import com.amazonaws.greengrass.javasdk.model.GGSecretsManagerException;
import com.amazonaws.greengrass.javasdk.model.GGSecretsManagerInternalException;
import com.amazonaws.greengrass.javasdk.model.GetSecretValueRequest;
import com.amazonaws.greengrass.javasdk.model.GetSecretValueResult;
import com.amazonaws.greengrass.javasdk.model.InvalidSecretsManagerRequestException;
import com.amazonaws.greengrass.javasdk.model.SecretResourceNotFoundException;
import com.amazonaws.greengrass.javasdk.model.UnauthorizedSecretsManagerRequestException;
import com.amazonaws.greengrass.runtime.Json;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public class SecretsManagerClient {
  private final IPCClient ipc;

  public SecretsManagerClient() {
    this(Ipc.defaultClient());
  }

  public SecretsManagerClient(IPCClient ipc) {
    this.ipc = ipc;
  }

  public GetSecretValueResult getSecretValue(GetSecretValueRequest request)
      throws GGSecretsManagerException {
    if (request == null || request.getSecretId() == null || request.getSecretId().isEmpty()) {
      throw new InvalidSecretsManagerRequestException("SecretId is required");
    }
    if (request.getVersionId() != null && !request.getVersionId().isEmpty()) {
      throw new InvalidSecretsManagerRequestException("Query by VersionId is not yet supported");
    }
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("SecretId", request.getSecretId());
    if (request.getVersionStage() != null) body.put("VersionStage", request.getVersionStage());
    String arn = Ipc.env("SECRETS_MANAGER_FUNCTION_ARN");
    WorkResult r;
    try {
      byte[] payload = Json.write(body).getBytes(StandardCharsets.UTF_8);
      String id = ipc.postWork(arn, "RequestResponse", payload, "");
      r = ipc.getWorkResult(arn, id);
    } catch (IPCException | Json.JsonException e) {
      throw new GGSecretsManagerInternalException("Internal Error: " + e.getMessage(), e);
    }
    String text = new String(r.getPayload() == null ? new byte[0] : r.getPayload(), StandardCharsets.UTF_8);
    Object doc;
    try {
      doc = Json.parse(text);
    } catch (Json.JsonException e) {
      throw new GGSecretsManagerInternalException("Internal Error: the secrets answer is not JSON: " + e.getMessage());
    }
    if (!(doc instanceof Map)) throw new GGSecretsManagerInternalException("Internal Error: unexpected secrets answer: " + text);
    Map<?, ?> m = (Map<?, ?>) doc;
    if (m.containsKey("Status") && m.containsKey("Message")) {
      Object st = m.get("Status");
      int status = st instanceof Number ? ((Number) st).intValue() : -1;
      String msg = String.valueOf(m.get("Message"));
      switch (status) {
        case 400:
          throw new InvalidSecretsManagerRequestException(msg);
        case 401:
        case 403:
          throw new UnauthorizedSecretsManagerRequestException(msg);
        case 404:
          throw new SecretResourceNotFoundException(msg);
        case 500:
          throw new GGSecretsManagerInternalException(msg);
        default:
          throw new GGSecretsManagerException("Internal Error: Unrecognized status code: " + st);
      }
    }
    GetSecretValueResult out = new GetSecretValueResult();
    out.setARN(str(m.get("ARN")));
    out.setName(str(m.get("Name")));
    out.setVersionId(str(m.get("VersionId")));
    out.setSecretString(str(m.get("SecretString")));
    Object bin = m.get("SecretBinary");
    if (bin instanceof String) {
      try {
        out.setSecretBinary(ByteBuffer.wrap(Base64.getDecoder().decode((String) bin)));
      } catch (IllegalArgumentException e) {
        throw new GGSecretsManagerInternalException("Internal Error: SecretBinary is not base64");
      }
    }
    Object created = m.get("CreatedDate");
    if (created instanceof Number) out.setCreatedDate(new Date(((Number) created).longValue()));
    Object stages = m.get("VersionStages");
    if (stages instanceof List) {
      List<String> l = new ArrayList<>();
      for (Object o : (List<?>) stages) l.add(String.valueOf(o));
      out.setVersionStages(l);
    }
    return out;
  }

  private static String str(Object o) {
    return o == null ? null : String.valueOf(o);
  }
}
