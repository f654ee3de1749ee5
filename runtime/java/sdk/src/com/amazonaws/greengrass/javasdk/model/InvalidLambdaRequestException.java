// Evergreen SDK: the invoke request is invalid (ARN, client context).
package com.amazonaws.greengrass.javasdk.model;

public class InvalidLambdaRequestException extends GGLambdaException {
  private static final long serialVersionUID = 1L;

  public InvalidLambdaRequestException(String message) {
    super(message);
  }

  public InvalidLambdaRequestException(String message, Throwable cause) {
    super(message, cause);
  }
}
