// JSON function: returns what the invocation looked like from inside and publishes it on
// java/out through our com.amazonaws.greengrass.javasdk (or event.reply when given).
package com.example;

import com.amazonaws.greengrass.javasdk.IotDataClient;
import com.amazonaws.greengrass.javasdk.model.PublishRequest;
import com.amazonaws.services.lambda.runtime.Context;
import com.example.lib.Greeter;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

public class Echo {
  private static final IotDataClient iot = new IotDataClient();

  public Map<String, Object> handle(Map<String, Object> event, Context context) throws Exception {
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("event", event);
    out.put("greeting", Greeter.greet(event.get("name")));
    out.put("subject", context.getClientContext() == null ? null : context.getClientContext().getCustom().get("subject"));
    out.put("requestId", context.getAwsRequestId());
    out.put("functionName", context.getFunctionName());
    out.put("functionVersion", context.getFunctionVersion());
    out.put("arn", context.getInvokedFunctionArn());
    out.put("remaining", context.getRemainingTimeInMillis());
    out.put("pid", ManagementFactory.getRuntimeMXBean().getName().split("@")[0]);
    System.out.println("stdout line from Echo " + event.get("name"));
    System.err.println("stderr line from Echo " + event.get("name"));
    context.getLogger().log("logger line from Echo " + event.get("name"));
    if (!Boolean.FALSE.equals(event.get("publish"))) {
      String topic = event.get("reply") instanceof String ? (String) event.get("reply") : "java/out";
      String json = com.amazonaws.greengrass.runtime.Json.write(out);
      iot.publish(new PublishRequest().withTopic(topic).withPayload(ByteBuffer.wrap(json.getBytes(StandardCharsets.UTF_8))));
    }
    return out;
  }
}
