// Evergreen SDK: delete shadow result.
package com.amazonaws.greengrass.javasdk.model;

public class DeleteThingShadowResult {
  private java.nio.ByteBuffer payload;

  public java.nio.ByteBuffer getPayload() {
    return payload;
  }

  public void setPayload(java.nio.ByteBuffer payload) {
    this.payload = payload;
  }

  public DeleteThingShadowResult withPayload(java.nio.ByteBuffer payload) {
    this.payload = payload;
    return this;
  }
}
