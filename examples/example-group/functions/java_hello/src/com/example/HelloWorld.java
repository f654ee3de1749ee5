// Example Java function (Greengrass v1 style): answers every event on hello/world/java with a
// greeting naming the topic it came from, using the Java Core SDK's IotDataClient.
package com.example;

import com.amazonaws.greengrass.javasdk.IotDataClient;
import com.amazonaws.greengrass.javasdk.model.PublishRequest;
import com.amazonaws.services.lambda.runtime.Context;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Map;

public class HelloWorld {
  private static final IotDataClient iotDataClient = new IotDataClient();

  public String handleRequest(Map<String, Object> event, Context context) throws Exception {
    String topic =
        context.getClientContext() == null ? "?" : context.getClientContext().getCustom().get("subject");
    String message = "Hello from Java! Invoked on topic \"" + topic + "\" with " + event;
    System.out.println(message);  // -> the function's log at INFO
    iotDataClient.publish(
        new PublishRequest()
            .withTopic("hello/world/java")
            .withPayload(ByteBuffer.wrap(message.getBytes(StandardCharsets.UTF_8))));
    return message;
  }
}
