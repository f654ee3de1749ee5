// Overload resolution (v1): the most parameters wins; on a tie, the last parameter Context.
package com.example;

import com.amazonaws.services.lambda.runtime.Context;
import java.util.Map;

public class Overloads {
  public String handle() {
    return "0 params";
  }

  public String handle(Map<String, Object> event) {
    return "1 param";
  }

  public String handle(Map<String, Object> event, Context context) {
    return "2 params " + event.get("k");
  }

  public String tie(Object event) {
    return "tie: Object";
  }

  public String tie(Context context) {
    return "tie: Context " + context.getFunctionName();
  }
}
