// Binary function (stream handler): publishes the raw input bytes on jbin/out, and answers the
// bytes reversed through the OutputStream.
package com.example;

import com.amazonaws.greengrass.javasdk.IotDataClient;
import com.amazonaws.greengrass.javasdk.model.PublishRequest;
import com.amazonaws.services.lambda.runtime.Context;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;

public class Binary {
  private final IotDataClient iot = new IotDataClient();

  public void handle(InputStream in, OutputStream out, Context context) throws Exception {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    int c;
    while ((c = in.read()) >= 0) b.write(c);
    byte[] data = b.toByteArray();
    iot.publish(new PublishRequest().withTopic("jbin/out").withPayload(ByteBuffer.wrap(data)));
    for (int i = data.length - 1; i >= 0; i--) out.write(data[i]);
  }

  // Never chosen for a binary function: fewer parameters.
  public void handle(InputStream in) throws IOException {
    throw new IOException("wrong overload");
  }
}
