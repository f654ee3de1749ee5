// Evergreen: IPC failure (non-2xx answer or transport error); checked, as the genuine SDK expects.
package com.amazonaws.greengrass.ipcsdk;

public class IPCException extends Exception {
  private static final long serialVersionUID = 1L;

  public IPCException(String message) {
    super(message);
  }

  public IPCException(String message, Throwable cause) {
    super(message, cause);
  }

  public IPCException(Throwable cause) {
    super(cause);
  }
}
