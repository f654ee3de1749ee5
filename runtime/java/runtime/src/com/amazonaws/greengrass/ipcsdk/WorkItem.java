// Evergreen: one invocation handed to a worker by E3 (GET .../{arn}/work).
package com.amazonaws.greengrass.ipcsdk;

public class WorkItem {
  private final String invocationId;
  private final byte[] payload;
  private final String clientContext;

  public WorkItem(String invocationId, byte[] payload, String clientContext) {
    this.invocationId = invocationId;
    this.payload = payload;
    this.clientContext = clientContext;
  }

  public String getInvocationId() {
    return invocationId;
  }

  public byte[] getPayload() {
    return payload;
  }

  /** base64(JSON) X-Amz-Client-Context as received; "" when absent. */
  public String getClientContext() {
    return clientContext;
  }
}
