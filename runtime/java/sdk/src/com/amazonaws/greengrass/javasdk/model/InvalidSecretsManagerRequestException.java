// Evergreen SDK: the secrets service reported 400 (or the request is invalid).
package com.amazonaws.greengrass.javasdk.model;

public class InvalidSecretsManagerRequestException extends GGSecretsManagerException {
  private static final long serialVersionUID = 1L;

  public InvalidSecretsManagerRequestException(String message) {
    super(message);
  }

  public InvalidSecretsManagerRequestException(String message, Throwable cause) {
    super(message, cause);
  }
}
