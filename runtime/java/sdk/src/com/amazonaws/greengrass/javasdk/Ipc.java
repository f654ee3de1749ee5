// Evergreen SDK: shared helpers of the clients (IPC client, client-context encoding).
package com.amazonaws.greengrass.javasdk;

import com.amazonaws.greengrass.ipcsdk.DefaultIPCClient;
import com.amazonaws.greengrass.ipcsdk.IPCClient;
import com.amazonaws.greengrass.runtime.Json;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.regex.Pattern;

final class Ipc {
  static final Pattern BASE64 =
      Pattern.compile(
          "^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)$");

  private Ipc() {}

  static IPCClient defaultClient() {
    return new DefaultIPCClient();
  }

  static String env(String name) {
    String v = System.getenv(name);
    return v == null ? "" : v;
  }

  static String customContext(String... kv) {
    StringBuilder sb = new StringBuilder("{\"custom\":{");
    for (int i = 0; i + 1 < kv.length; i += 2) {
      if (kv[i + 1] == null) continue;
      if (sb.charAt(sb.length() - 1) != '{') sb.append(',');
      Json.quote(sb, kv[i]);
      sb.append(':');
      Json.quote(sb, kv[i + 1]);
    }
    sb.append("}}");
    return Base64.getEncoder().encodeToString(sb.toString().getBytes(StandardCharsets.UTF_8));
  }

  static byte[] bytes(ByteBuffer b) {
    if (b == null) return new byte[0];
    ByteBuffer d = b.duplicate();
    d.rewind();
    if (d.hasArray() && d.arrayOffset() == 0 && d.array().length == d.limit()) return d.array();
    byte[] a = new byte[d.remaining()];
    d.get(a);
    return a;
  }
}
