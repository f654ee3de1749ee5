// Evergreen: aws-lambda-java-core 1.1.0 ClientContext (decoded X-Amz-Client-Context).
package com.amazonaws.services.lambda.runtime;

import java.util.Map;

public interface ClientContext {
  Client getClient();

  Map<String, String> getCustom();

  Map<String, String> getEnvironment();
}
