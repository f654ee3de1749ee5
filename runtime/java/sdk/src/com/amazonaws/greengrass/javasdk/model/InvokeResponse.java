// Evergreen SDK: invoke response (202 and no payload for Event).
package com.amazonaws.greengrass.javasdk.model;

public class InvokeResponse {
  private int statusCode;
  private java.nio.ByteBuffer payload;
  private String functionError;

  public int getStatusCode() {
    return statusCode;
  }

  public void setStatusCode(int statusCode) {
    this.statusCode = statusCode;
  }

  public InvokeResponse withStatusCode(int statusCode) {
    this.statusCode = statusCode;
    return this;
  }

  public java.nio.ByteBuffer getPayload() {
    return payload;
  }

  public void setPayload(java.nio.ByteBuffer payload) {
    this.payload = payload;
  }

  public InvokeResponse withPayload(java.nio.ByteBuffer payload) {
    this.payload = payload;
    return this;
  }

  public String getFunctionError() {
    return functionError;
  }

  public void setFunctionError(String functionError) {
    this.functionError = functionError;
  }

  public InvokeResponse withFunctionError(String functionError) {
    this.functionError = functionError;
    return this;
  }

  /** Same as getFunctionError() ("" on success, "Handled", "Unhandled"). */
  public String getFunctionErr() {
    return functionError;
  }
}
