// Evergreen SDK: builds a SecretsManagerClient (GreengrassClientBuilder.secretsManagerClient().build()).
package com.amazonaws.greengrass.javasdk;

public class SecretsManagerClientFactory {
  public SecretsManagerClient build() {
    return new SecretsManagerClient();
  }
}
