// Evergreen SDK: a secrets request failed.
package com.amazonaws.greengrass.javasdk.model;

public class GGSecretsManagerException extends Exception {
  private static final long serialVersionUID = 1L;

  public GGSecretsManagerException(String message) {
    super(message);
  }

  public GGSecretsManagerException(String message, Throwable cause) {
    super(message, cause);
  }
}
