// Evergreen SDK: the secrets service reported 404.
package com.amazonaws.greengrass.javasdk.model;

public class SecretResourceNotFoundException extends GGSecretsManagerException {
  private static final long serialVersionUID = 1L;

  public SecretResourceNotFoundException(String message) {
    super(message);
  }

  public SecretResourceNotFoundException(String message, Throwable cause) {
    super(message, cause);
  }
}
