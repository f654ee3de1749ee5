// Benchmark function (binary): publishes the input unchanged on bench/out and returns it.
package com.example;

import com.amazonaws.greengrass.javasdk.IotDataClient;
import com.amazonaws.greengrass.javasdk.model.PublishRequest;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.util.Map;

public class BenchEcho {
  private static final IotDataClient iot = new IotDataClient();

  public void handle(InputStream in, OutputStream out) throws Exception {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    byte[] buf = new byte[4096];
    int n;
    while ((n = in.read(buf)) > 0) b.write(buf, 0, n);
    byte[] data = b.toByteArray();
    iot.publish(new PublishRequest().withTopic("bench/out").withPayload(ByteBuffer.wrap(data)));
    out.write(data);
  }

  // JSON flavour for RequestResponse benchmarks: returns the event.
  public Map<String, Object> json(Map<String, Object> event) {
    return event;
  }
}
