// Evergreen SDK: the secrets service reported 500 or an unknown status.
package com.amazonaws.greengrass.javasdk.model;

public class GGSecretsManagerInternalException extends GGSecretsManagerException {
  private static final long serialVersionUID = 1L;

  public GGSecretsManagerInternalException(String message) {
    super(message);
  }

  public GGSecretsManagerInternalException(String message, Throwable cause) {
    super(message, cause);
  }
}
