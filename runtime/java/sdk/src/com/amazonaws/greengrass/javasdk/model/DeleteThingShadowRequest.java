// Evergreen SDK: delete shadow request.
package com.amazonaws.greengrass.javasdk.model;

public class DeleteThingShadowRequest {
  private String thingName;

  public String getThingName() {
    return thingName;
  }

  public void setThingName(String thingName) {
    this.thingName = thingName;
  }

  public DeleteThingShadowRequest withThingName(String thingName) {
    this.thingName = thingName;
    return this;
  }
}
