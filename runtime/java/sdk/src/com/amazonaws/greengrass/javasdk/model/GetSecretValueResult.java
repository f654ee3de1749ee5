// Evergreen SDK: secret value (reference section 3.4 keys).
package com.amazonaws.greengrass.javasdk.model;

public class GetSecretValueResult {
  private String ARN;
  private java.util.Date createdDate;
  private String name;
  private java.nio.ByteBuffer secretBinary;
  private String secretString;
  private String versionId;
  private java.util.List<String> versionStages;

  public String getARN() {
    return ARN;
  }

  public void setARN(String ARN) {
    this.ARN = ARN;
  }

  public GetSecretValueResult withARN(String ARN) {
    this.ARN = ARN;
    return this;
  }

  public java.util.Date getCreatedDate() {
    return createdDate;
  }

  public void setCreatedDate(java.util.Date createdDate) {
    this.createdDate = createdDate;
  }

  public GetSecretValueResult withCreatedDate(java.util.Date createdDate) {
    this.createdDate = createdDate;
    return this;
  }

  public String getName() {
    return name;
  }

  public void setName(String name) {
    this.name = name;
  }

  public GetSecretValueResult withName(String name) {
    this.name = name;
    return this;
  }

  public java.nio.ByteBuffer getSecretBinary() {
    return secretBinary;
  }

  public void setSecretBinary(java.nio.ByteBuffer secretBinary) {
    this.secretBinary = secretBinary;
  }

  public GetSecretValueResult withSecretBinary(java.nio.ByteBuffer secretBinary) {
    this.secretBinary = secretBinary;
    return this;
  }

  public String getSecretString() {
    return secretString;
  }

  public void setSecretString(String secretString) {
    this.secretString = secretString;
  }

  public GetSecretValueResult withSecretString(String secretString) {
    this.secretString = secretString;
    return this;
  }

  public String getVersionId() {
    return versionId;
  }

  public void setVersionId(String versionId) {
    this.versionId = versionId;
  }

  public GetSecretValueResult withVersionId(String versionId) {
    this.versionId = versionId;
    return this;
  }

  public java.util.List<String> getVersionStages() {
    return versionStages;
  }

  public void setVersionStages(java.util.List<String> versionStages) {
    this.versionStages = versionStages;
  }

  public GetSecretValueResult withVersionStages(java.util.List<String> versionStages) {
    this.versionStages = versionStages;
    return this;
  }
}
