// topics: every MQTT topic the dashboard subscribes to, reads or publishes on is built or parsed
// here and nowhere else, so a change of the command topics is a change of this file alone.
"use strict";

var CaretakerTopics = (function () {
  var ROOT = "caretaker"; // <prefix> = caretaker/<site>/<gateway> (docs/mqtt.md)

  // What the page subscribes to for a user; the broker's ACL decides what of it is delivered.
  // Readings, the bulk of the traffic, are asked for per gateway (readings()) while its card is open.
  function subscriptions(user) {
    var all = ROOT + "/+/+/";
    return [all + "status", all + "alerts/active", all + "alerts", all + "devices/+/state",
            all + "reports/daily/+", replyFilter(user)];
  }

  // Both forms of the contract: one message per poll (v1), or batches of every device (v2).
  function readings(prefix) {
    return [prefix + "/devices/+/readings", prefix + "/v2/readings"];
  }

  // Replies to this user's commands: every gateway answers on <prefix>/reply/<identity>.
  function replyFilter(user) {
    return ROOT + "/+/+/reply/" + user;
  }

  // A command to one gateway under the logged-in identity: <prefix>/cmd/<verb>/<identity>. The
  // broker's ACL (pattern write caretaker/+/+/cmd/+/%u) lets a user publish only under its own
  // name, so the gateway knows who sent it from the topic.
  function command(prefix, verb, user) {
    return prefix + "/cmd/" + verb + "/" + user;
  }

  // The command's payload: who acknowledges is the topic's identity, not a member.
  function commandPayload(verb, user, fields) {
    var o = {};
    for (var k in fields) o[k] = fields[k];
    return o;
  }

  // caretaker/<site>/<gateway>/<rest> -> {prefix, site, gateway, kind, device}, or null.
  function parse(topic) {
    var p = topic.split("/");
    if (p.length < 4 || p[0] !== ROOT) return null;
    var r = { prefix: p.slice(0, 3).join("/"), site: p[1], gateway: p[2], kind: null, device: null };
    var rest = p.slice(3).join("/");
    if (rest === "status") r.kind = "status";
    else if (rest === "alerts") r.kind = "alert";
    else if (rest === "alerts/active") r.kind = "active";
    else if (rest === "v2/readings") r.kind = "batch";
    else if (p.length === 5 && p[3] === "reply") r.kind = "reply";
    else if (p.length === 6 && p[3] === "devices" && (p[5] === "state" || p[5] === "readings")) {
      r.kind = p[5];
      r.device = p[4];
    } else if (p.length === 6 && p[3] === "reports" && p[4] === "daily") {
      r.kind = "report";
      r.device = p[5];
    }
    return r.kind ? r : null;
  }

  return { subscriptions: subscriptions, readings: readings, command: command, commandPayload: commandPayload, parse: parse };
})();
