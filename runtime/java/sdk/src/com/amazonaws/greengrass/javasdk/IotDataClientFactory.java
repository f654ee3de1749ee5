// Evergreen SDK: builds a IotDataClient (GreengrassClientBuilder.iotDataClient().build()).
package com.amazonaws.greengrass.javasdk;

public class IotDataClientFactory {
  public IotDataClient build() {
    return new IotDataClient();
  }
}
