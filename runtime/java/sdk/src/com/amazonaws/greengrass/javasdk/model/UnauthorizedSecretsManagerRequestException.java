// Evergreen SDK: the secrets service reported 401.
package com.amazonaws.greengrass.javasdk.model;

public class UnauthorizedSecretsManagerRequestException extends GGSecretsManagerException {
  private static final long serialVersionUID = 1L;

  public UnauthorizedSecretsManagerRequestException(String message) {
    super(message);
  }

  public UnauthorizedSecretsManagerRequestException(String message, Throwable cause) {
    super(message, cause);
  }
}
