// Evergreen SDK: update shadow request.
package com.amazonaws.greengrass.javasdk.model;

public class UpdateThingShadowRequest {
  private String thingName;
  private java.nio.ByteBuffer payload;

  public String getThingName() {
    return thingName;
  }

  public void setThingName(String thingName) {
    this.thingName = thingName;
  }

  public UpdateThingShadowRequest withThingName(String thingName) {
    this.thingName = thingName;
    return this;
  }

  public java.nio.ByteBuffer getPayload() {
    return payload;
  }

  public void setPayload(java.nio.ByteBuffer payload) {
    this.payload = payload;
  }

  public UpdateThingShadowRequest withPayload(java.nio.ByteBuffer payload) {
    this.payload = payload;
    return this;
  }
}
