// Evergreen: the cause of an IPCException for a non-2xx answer of the core. The genuine Java SDK
// 1.5.0 reports IPC failures as "Post work error: " + e.getCause(), so every IPCException this
// client throws carries a cause whose toString() names the problem (this one: "HTTP Error N: ...").
package com.amazonaws.greengrass.ipcsdk;

import java.io.IOException;

public class HttpStatusException extends IOException {
  private static final long serialVersionUID = 1L;
  private final int statusCode;

  public HttpStatusException(int statusCode, String message) {
    super(message);
    this.statusCode = statusCode;
  }

  /** The HTTP status the core answered (e.g. 404 unknown function, 429 queue full). */
  public int getStatusCode() {
    return statusCode;
  }
}
