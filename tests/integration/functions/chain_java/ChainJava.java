// Chain hop (tests/integration/test_14_chain.py), binary stream handler: appends "java" to the
// event's path (plain text edit of the JSON: ,"java" before the path's closing bracket), takes the
// next ARN from the event's "next" list and invokes it RequestResponse with the edited event; the
// downstream result bytes are this function's result.
import com.amazonaws.greengrass.javasdk.LambdaClient;
import com.amazonaws.greengrass.javasdk.model.InvocationType;
import com.amazonaws.greengrass.javasdk.model.InvokeRequest;
import com.amazonaws.greengrass.javasdk.model.InvokeResponse;
import com.amazonaws.services.lambda.runtime.Context;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class ChainJava {
  private static final Pattern NEXT = Pattern.compile("\"next\":\\[\"([^\"]+)\"");

  public void handle(InputStream in, OutputStream out, Context context) throws Exception {
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    byte[] b = new byte[4096];
    int n;
    while ((n = in.read(b)) > 0) buf.write(b, 0, n);
    String event = new String(buf.toByteArray(), StandardCharsets.UTF_8);
    Matcher m = NEXT.matcher(event);
    if (!m.find()) throw new IllegalArgumentException("no next hop in " + event);
    String target = m.group(1);
    // drop the first "next" entry, append "java" to path
    event = event.replace("\"next\":[\"" + target + "\",", "\"next\":[")
                 .replace("\"next\":[\"" + target + "\"]", "\"next\":[]");
    int p = event.indexOf("\"path\":[");
    int close = event.indexOf(']', p);
    event = event.substring(0, close) + ",\"java\"" + event.substring(close);
    InvokeResponse r = new LambdaClient().invoke(new InvokeRequest()
        .withFunctionArn(target)
        .withInvocationType(InvocationType.RequestResponse)
        .withPayload(ByteBuffer.wrap(event.getBytes(StandardCharsets.UTF_8))));
    if (r.getFunctionError() != null && !r.getFunctionError().isEmpty()) {
      throw new RuntimeException("downstream " + r.getFunctionError());
    }
    ByteBuffer payload = r.getPayload();
    byte[] res = new byte[payload.remaining()];
    payload.get(res);
    out.write(res);
  }
}
