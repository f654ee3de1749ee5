// Evergreen: the answer of E2 (GET /2016-11-01/functions/{arn}): body, HTTP status and the
// X-Amz-Function-Error header ("" on success, "Handled", "Unhandled"; null when absent).
package com.amazonaws.greengrass.ipcsdk;

public class WorkResult {
  private final byte[] payload;
  private final int statusCode;
  private final String functionErr;

  public WorkResult(byte[] payload, int statusCode, String functionErr) {
    this.payload = payload;
    this.statusCode = statusCode;
    this.functionErr = functionErr;
  }

  public byte[] getPayload() {
    return payload;
  }

  public int getStatusCode() {
    return statusCode;
  }

  public String getFunctionErr() {
    return functionErr;
  }
}
