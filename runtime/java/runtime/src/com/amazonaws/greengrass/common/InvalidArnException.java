// Evergreen: thrown by FunctionArnFields.fromString for a malformed function ARN.
package com.amazonaws.greengrass.common;

public class InvalidArnException extends Exception {
  private static final long serialVersionUID = 1L;

  public InvalidArnException(String message) {
    super(message);
  }

  public InvalidArnException(String message, Throwable cause) {
    super(message, cause);
  }
}
