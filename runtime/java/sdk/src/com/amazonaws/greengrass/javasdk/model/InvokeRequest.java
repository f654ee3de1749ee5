// Evergreen SDK: invoke request; invocationType defaults to RequestResponse.
package com.amazonaws.greengrass.javasdk.model;

public class InvokeRequest {
  private String functionArn;
  private InvocationType invocationType = InvocationType.RequestResponse;
  private String clientContext;
  private java.nio.ByteBuffer payload;
  private String qualifier;

  public String getFunctionArn() {
    return functionArn;
  }

  public void setFunctionArn(String functionArn) {
    this.functionArn = functionArn;
  }

  public InvokeRequest withFunctionArn(String functionArn) {
    this.functionArn = functionArn;
    return this;
  }

  public InvocationType getInvocationType() {
    return invocationType;
  }

  public void setInvocationType(InvocationType invocationType) {
    this.invocationType = invocationType;
  }

  public InvokeRequest withInvocationType(InvocationType invocationType) {
    this.invocationType = invocationType;
    return this;
  }

  public String getClientContext() {
    return clientContext;
  }

  public void setClientContext(String clientContext) {
    this.clientContext = clientContext;
  }

  public InvokeRequest withClientContext(String clientContext) {
    this.clientContext = clientContext;
    return this;
  }

  public java.nio.ByteBuffer getPayload() {
    return payload;
  }

  public void setPayload(java.nio.ByteBuffer payload) {
    this.payload = payload;
  }

  public InvokeRequest withPayload(java.nio.ByteBuffer payload) {
    this.payload = payload;
    return this;
  }

  public String getQualifier() {
    return qualifier;
  }

  public void setQualifier(String qualifier) {
    this.qualifier = qualifier;
  }

  public InvokeRequest withQualifier(String qualifier) {
    this.qualifier = qualifier;
    return this;
  }
}
