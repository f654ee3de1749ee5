// Evergreen SDK: builds a LambdaClient (GreengrassClientBuilder.lambdaClient().build()).
package com.amazonaws.greengrass.javasdk;

public class LambdaClientFactory {
  public LambdaClient build() {
    return new LambdaClient();
  }
}
