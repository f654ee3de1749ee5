// Evergreen SDK: get shadow result (the shadow service's document).
package com.amazonaws.greengrass.javasdk.model;

public class GetThingShadowResult {
  private java.nio.ByteBuffer payload;

  public java.nio.ByteBuffer getPayload() {
    return payload;
  }

  public void setPayload(java.nio.ByteBuffer payload) {
    this.payload = payload;
  }

  public GetThingShadowResult withPayload(java.nio.ByteBuffer payload) {
    this.payload = payload;
    return this;
  }
}
