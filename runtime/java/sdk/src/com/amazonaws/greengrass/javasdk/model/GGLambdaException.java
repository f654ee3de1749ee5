// Evergreen SDK: a Lambda invoke (or the IPC under it) failed.
package com.amazonaws.greengrass.javasdk.model;

public class GGLambdaException extends Exception {
  private static final long serialVersionUID = 1L;

  public GGLambdaException(String message) {
    super(message);
  }

  public GGLambdaException(String message, Throwable cause) {
    super(message, cause);
  }
}
