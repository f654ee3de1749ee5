// Evergreen SDK: LambdaClient.invoke (reference section 3.1): E1, then E2 for RequestResponse.
package com.amazonaws.greengrass.javasdk;

import com.amazonaws.greengrass.common.FunctionArnFields;
import com.amazonaws.greengrass.common.InvalidArnException;
import com.amazonaws.greengrass.ipcsdk.IPCClient;
import com.amazonaws.greengrass.ipcsdk.IPCException;
import com.amazonaws.greengrass.ipcsdk.WorkResult;
import com.amazonaws.greengrass.javasdk.model.GGLambdaException;
import com.amazonaws.greengrass.javasdk.model.InvalidLambdaRequestException;
import com.amazonaws.greengrass.javasdk.model.InvocationType;
import com.amazonaws.greengrass.javasdk.model.InvokeRequest;
import com.amazonaws.greengrass.javasdk.model.InvokeResponse;
import java.nio.ByteBuffer;

public class LambdaClient {
  public static final String DEFAULT_HOST = "localhost";
  public static final int DEFAULT_PORT = 8000;

  private final IPCClient ipc;

  public LambdaClient() {
    this(Ipc.defaultClient());
  }

  public LambdaClient(IPCClient ipc) {
    this.ipc = ipc;
  }

  public InvokeResponse invoke(InvokeRequest request) throws GGLambdaException {
    if (request == null) throw new InvalidLambdaRequestException("InvokeRequest is null");
    String arn = request.getFunctionArn();
    FunctionArnFields fields;
    try {
      fields = FunctionArnFields.fromString(arn);
    } catch (InvalidArnException e) {
      throw new InvalidLambdaRequestException(String.format("Function ARN %s is invalid", arn), e);
    }
    String q = request.getQualifier();
    String arnQualifier = fields.getQualifier();  // null when the ARN has none
    if (q != null && !q.isEmpty()) {
      if (arnQualifier == null || arnQualifier.isEmpty()) {
        arn = arn + ":" + q;
      } else if (!arnQualifier.equals(q)) {
        throw new InvalidLambdaRequestException(
            String.format("Qualifier %s does not match the function arn %s", q, arn));
      }
    }
    String cc = request.getClientContext();
    if (cc != null && !cc.isEmpty() && !Ipc.BASE64.matcher(cc).matches()) {
      throw new InvalidLambdaRequestException("Client context must be base64 encoded");
    }
    InvocationType type =
        request.getInvocationType() == null ? InvocationType.RequestResponse : request.getInvocationType();
    byte[] payload = Ipc.bytes(request.getPayload());
    String id;
    try {
      id = ipc.postWork(arn, type.name(), payload, cc == null ? "" : cc);
    } catch (IPCException e) {
      throw new GGLambdaException("Post work error: " + e.getMessage(), e);
    }
    if (type == InvocationType.Event) return new InvokeResponse().withStatusCode(202);
    WorkResult r;
    try {
      r = ipc.getWorkResult(arn, id);
    } catch (IPCException e) {
      throw new GGLambdaException("Failed to get work result for function: " + arn + ": " + e.getMessage(), e);
    }
    return new InvokeResponse()
        .withStatusCode(r.getStatusCode())
        .withPayload(ByteBuffer.wrap(r.getPayload() == null ? new byte[0] : r.getPayload()))
        .withFunctionError(r.getFunctionErr());
  }
}
