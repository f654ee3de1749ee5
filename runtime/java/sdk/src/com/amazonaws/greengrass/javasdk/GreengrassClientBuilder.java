// Evergreen SDK: client factories. Stream Manager is not part of this SDK (bundle the genuine
// SDK jar for it).
package com.amazonaws.greengrass.javasdk;

public final class GreengrassClientBuilder {
  private GreengrassClientBuilder() {}

  public static IotDataClientFactory iotDataClient() {
    return new IotDataClientFactory();
  }

  public static LambdaClientFactory lambdaClient() {
    return new LambdaClientFactory();
  }

  public static SecretsManagerClientFactory secretsManagerClient() {
    return new SecretsManagerClientFactory();
  }
}
