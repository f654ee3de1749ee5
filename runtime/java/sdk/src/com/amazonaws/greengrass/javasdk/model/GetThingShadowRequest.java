// Evergreen SDK: get shadow request.
package com.amazonaws.greengrass.javasdk.model;

public class GetThingShadowRequest {
  private String thingName;

  public String getThingName() {
    return thingName;
  }

  public void setThingName(String thingName) {
    this.thingName = thingName;
  }

  public GetThingShadowRequest withThingName(String thingName) {
    this.thingName = thingName;
    return this;
  }
}
