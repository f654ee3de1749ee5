// Evergreen SDK: the publish/shadow request is invalid.
package com.amazonaws.greengrass.javasdk.model;

public class InvalidIotDataRequestException extends GGIotDataException {
  private static final long serialVersionUID = 1L;

  public InvalidIotDataRequestException(String message) {
    super(message);
  }

  public InvalidIotDataRequestException(String message, Throwable cause) {
    super(message, cause);
  }
}
