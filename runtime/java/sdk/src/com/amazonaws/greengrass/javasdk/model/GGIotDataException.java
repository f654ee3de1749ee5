// Evergreen SDK: an IoT data (publish/shadow) request failed.
package com.amazonaws.greengrass.javasdk.model;

public class GGIotDataException extends Exception {
  private static final long serialVersionUID = 1L;

  public GGIotDataException(String message) {
    super(message);
  }

  public GGIotDataException(String message, Throwable cause) {
    super(message, cause);
  }
}
