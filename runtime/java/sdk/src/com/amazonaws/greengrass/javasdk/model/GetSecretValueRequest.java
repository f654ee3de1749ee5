// Evergreen SDK: secret request; VersionId is refused (not supported by v1).
package com.amazonaws.greengrass.javasdk.model;

public class GetSecretValueRequest {
  private String secretId;
  private String versionId;
  private String versionStage;

  public String getSecretId() {
    return secretId;
  }

  public void setSecretId(String secretId) {
    this.secretId = secretId;
  }

  public GetSecretValueRequest withSecretId(String secretId) {
    this.secretId = secretId;
    return this;
  }

  public String getVersionId() {
    return versionId;
  }

  public void setVersionId(String versionId) {
    this.versionId = versionId;
  }

  public GetSecretValueRequest withVersionId(String versionId) {
    this.versionId = versionId;
    return this;
  }

  public String getVersionStage() {
    return versionStage;
  }

  public void setVersionStage(String versionStage) {
    this.versionStage = versionStage;
  }

  public GetSecretValueRequest withVersionStage(String versionStage) {
    this.versionStage = versionStage;
    return this;
  }
}
