// Evergreen SDK: IotDataClient (reference sections 3.2, 3.3): publish = Event to GGRouter with
// {"custom":{"source","subject"[,"queueFullPolicy"]}}; shadow ops = RequestResponse to
// GGShadowService with subject $aws/things/<thing>/shadow/<get|update|delete> ({} body for
// get/delete, as the genuine SDK).
package com.amazonaws.greengrass.javasdk;

import com.amazonaws.greengrass.ipcsdk.IPCClient;
import com.amazonaws.greengrass.ipcsdk.IPCException;
import com.amazonaws.greengrass.ipcsdk.WorkResult;
import com.amazonaws.greengrass.javasdk.model.DeleteThingShadowRequest;
import com.amazonaws.greengrass.javasdk.model.DeleteThingShadowResult;
import com.amazonaws.greengrass.javasdk.model.GGIotDataException;
import com.amazonaws.greengrass.javasdk.model.GGLambdaException;
import com.amazonaws.greengrass.javasdk.model.GetThingShadowRequest;
import com.amazonaws.greengrass.javasdk.model.GetThingShadowResult;
import com.amazonaws.greengrass.javasdk.model.InvalidIotDataRequestException;
import com.amazonaws.greengrass.javasdk.model.PublishRequest;
import com.amazonaws.greengrass.javasdk.model.PublishResult;
import com.amazonaws.greengrass.javasdk.model.UpdateThingShadowRequest;
import com.amazonaws.greengrass.javasdk.model.UpdateThingShadowResult;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

public class IotDataClient {
  private final IPCClient ipc;

  public IotDataClient() {
    this(Ipc.defaultClient());
  }

  public IotDataClient(IPCClient ipc) {
    this.ipc = ipc;
  }

  public PublishResult publish(PublishRequest request) throws GGIotDataException, GGLambdaException {
    if (request == null || request.getTopic() == null || request.getTopic().isEmpty()) {
      throw new InvalidIotDataRequestException("PublishRequest needs a topic");
    }
    String policy = request.getQueueFullPolicy() == null ? null : request.getQueueFullPolicy().toString();
    String cc =
        Ipc.customContext(
            "source", Ipc.env("MY_FUNCTION_ARN"), "subject", request.getTopic(), "queueFullPolicy", policy);
    try {
      ipc.postWork(Ipc.env("ROUTER_FUNCTION_ARN"), "Event", Ipc.bytes(request.getPayload()), cc);
    } catch (IPCException e) {
      throw new GGLambdaException("Post work error: " + e.getMessage(), e);
    }
    return new PublishResult();
  }

  public GetThingShadowResult getThingShadow(GetThingShadowRequest request)
      throws GGIotDataException, GGLambdaException {
    if (request == null) throw new InvalidIotDataRequestException("GetThingShadowRequest is null");
    return new GetThingShadowResult().withPayload(shadow(request.getThingName(), "get", null));
  }

  public UpdateThingShadowResult updateThingShadow(UpdateThingShadowRequest request)
      throws GGIotDataException, GGLambdaException {
    if (request == null) throw new InvalidIotDataRequestException("UpdateThingShadowRequest is null");
    if (request.getPayload() == null) throw new InvalidIotDataRequestException("UpdateThingShadowRequest needs a payload");
    return new UpdateThingShadowResult()
        .withPayload(shadow(request.getThingName(), "update", Ipc.bytes(request.getPayload())));
  }

  public DeleteThingShadowResult deleteThingShadow(DeleteThingShadowRequest request)
      throws GGIotDataException, GGLambdaException {
    if (request == null) throw new InvalidIotDataRequestException("DeleteThingShadowRequest is null");
    return new DeleteThingShadowResult().withPayload(shadow(request.getThingName(), "delete", null));
  }

  private ByteBuffer shadow(String thing, String op, byte[] body)
      throws GGIotDataException, GGLambdaException {
    if (thing == null || thing.isEmpty()) throw new InvalidIotDataRequestException("thingName is required");
    String arn = Ipc.env("SHADOW_FUNCTION_ARN");
    String cc = Ipc.customContext("subject", "$aws/things/" + thing + "/shadow/" + op);
    byte[] payload = body == null ? "{}".getBytes(StandardCharsets.UTF_8) : body;
    WorkResult r;
    try {
      String id = ipc.postWork(arn, "RequestResponse", payload, cc);
      r = ipc.getWorkResult(arn, id);
    } catch (IPCException e) {
      throw new GGLambdaException("Shadow " + op + " for " + thing + " failed: " + e.getMessage(), e);
    }
    return ByteBuffer.wrap(r.getPayload() == null ? new byte[0] : r.getPayload());
  }
}
