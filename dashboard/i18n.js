// i18n: the page's words in Chinese (the default) and English; alert texts come from the gateway.
"use strict";

var CaretakerText = {
  zh: {
    title: "小区设施运维看板", login: "登录", user: "用户名", password: "密码", broker: "代理地址",
    connecting: "正在连接…", connected: "已连接", disconnected: "连接断开，正在重连…",
    loginFailed: "登录失败", logout: "退出", dispatch: "调度", sites: "小区", supervision: "监管",
    noAlerts: "当前没有活动告警", severity: "级别", community: "小区", location: "位置", device: "设备",
    alert: "告警", contractor: "运维单位", stage: "阶段", deadline: "时限", action: "操作",
    critical: "紧急", major: "重要", minor: "一般", info: "提示",
    raised: "待响应", escalated: "已升级", acknowledged: "已确认", flapping: "频繁抖动",
    overdue: "超时", ack: "确认", note: "备注", send: "发送", cancel: "取消", by: "确认人",
    replies: "网关回复", online: "在线", offline: "离线", unknown: "未知", gateway: "网关",
    devices: "设备", bus: "总线", values: "最新读数", trend: "近一小时", lastSeen: "最后读数", errors: "失败次数",
    day: "日期", readings: "读数条数", runs: "运行次数", doorCycles: "开关门次数", volume: "污水量",
    peakFlow: "最大流量", peakLevel: "最高液位", minutesInAlarm: "告警分钟", faults: "故障",
    noReports: "尚无日报", print: "打印", since: "自", ackSent: "已发送确认，等待网关回复",
    gatewaysOnline: "网关在线", activeAlerts: "活动告警", none: "无"
  },
  en: {
    title: "Community facilities O&M dashboard", login: "Log in", user: "User", password: "Password",
    broker: "Broker", connecting: "Connecting…", connected: "Connected",
    disconnected: "Connection lost, reconnecting…", loginFailed: "Login failed", logout: "Log out",
    dispatch: "Dispatch", sites: "Sites", supervision: "Supervision", noAlerts: "No active alerts",
    severity: "Severity", community: "Community", location: "Location", device: "Device", alert: "Alert",
    contractor: "Contractor", stage: "Stage", deadline: "Deadline", action: "Action",
    critical: "critical", major: "major", minor: "minor", info: "info",
    raised: "awaiting response", escalated: "escalated", acknowledged: "acknowledged", flapping: "flapping",
    overdue: "overdue", ack: "Acknowledge", note: "Note", send: "Send", cancel: "Cancel", by: "By",
    replies: "Gateway replies", online: "online", offline: "offline", unknown: "unknown", gateway: "Gateway",
    devices: "Devices", bus: "Bus", values: "Last values", trend: "Last hour", lastSeen: "Last reading", errors: "Failures",
    day: "Day", readings: "Readings", runs: "Runs", doorCycles: "Door cycles", volume: "Volume",
    peakFlow: "Peak flow", peakLevel: "Peak level", minutesInAlarm: "Minutes in alarm", faults: "Faults",
    noReports: "No reports yet", print: "Print", since: "since", ackSent: "Ack sent, waiting for the gateway",
    gatewaysOnline: "gateways online", activeAlerts: "active alerts", none: "none"
  }
};

// Community names by site id, for the city that deploys the page (the topics carry the id only).
var CaretakerSiteNames = {
  hongmei: "红梅新村"
};
