// Evergreen: aws-lambda-java-core 1.1.0 Client (the "client" object of the client context).
package com.amazonaws.services.lambda.runtime;

public interface Client {
  String getInstallationId();

  String getAppTitle();

  String getAppVersionName();

  String getAppVersionCode();

  String getAppPackageName();
}
