// Pinned JSON function: instance state survives invocations; publishes {count, pid, event}.
package com.example;

import com.amazonaws.greengrass.javasdk.GreengrassClientBuilder;
import com.amazonaws.greengrass.javasdk.IotDataClient;
import com.amazonaws.greengrass.javasdk.model.PublishRequest;
import com.amazonaws.services.lambda.runtime.Context;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Map;

public class Counter {
  static final String PID = ManagementFactory.getRuntimeMXBean().getName().split("@")[0];

  static {
    System.out.println("java counter initialised in pid " + PID);
  }

  private final IotDataClient iot = GreengrassClientBuilder.iotDataClient().build();
  private int count;

  public void handle(Map<String, Object> event, Context context) throws Exception {
    count++;
    String json = "{\"count\":" + count + ",\"pid\":\"" + PID + "\",\"i\":" + event.get("i") + "}";
    iot.publish(new PublishRequest().withTopic("jcounter/out").withPayload(ByteBuffer.wrap(json.getBytes(StandardCharsets.UTF_8))));
  }
}
