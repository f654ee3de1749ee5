// Evergreen: the IPC client interface the genuine Java SDK links against (reference section 4.3).
package com.amazonaws.greengrass.ipcsdk;

public interface IPCClient {
  /** E1: POST /2016-11-01/functions/{arn}; returns the X-Amz-InvocationId. */
  String postWork(String functionArn, String invocationTypeName, byte[] payload, String clientContext)
      throws IPCException;

  /** E2: GET /2016-11-01/functions/{arn} with X-Amz-InvocationId; blocks until the result exists. */
  WorkResult getWorkResult(String functionArn, String invocationId) throws IPCException;
}
