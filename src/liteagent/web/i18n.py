"""The web chat's labels in English and Chinese (the tutorial's readers work in Chinese)."""

from __future__ import annotations

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "language": "Language",
        "settings": "Model",
        "backend": "Backend",
        "backend_local": "Embedded model (offline)",
        "backend_openai": "OpenAI-compatible server",
        "model": "Model name",
        "base_url": "Server URL",
        "api_key": "API key",
        "key_operator": "set by the operator (kept on the server)",
        "url_locked": "Fixed by the operator: the server's key is only sent there",
        "more": "More ({n})",
        "export": "Export this conversation",
        "reading_prompt": "The model is reading the prompt… {pct} %",
        "model_local": "The embedded model answers: SmolLM2-135M-Instruct, or the GGUF given to `liteagent web --model-path`",
        "tool_choice": "Tool calls",
        "tool_choice_auto": "the model decides",
        "tool_choice_required": "must call a tool first",
        "tool_choice_none": "no tools",
        "trimmed": "The {n} oldest turns were left out of the prompt to fit the model's context",
        "upload_too_big": "{name} is larger than {mb} MB: nothing was sent; attach a smaller file",
        "password": "Password",
        "sign_in": "Sign in",
        "wrong_password": "Wrong password",
        "protocol": "Tool-call dialect",
        "system_prompt": "System prompt",
        "plugin_prompt": "Plugin prompt",
        "plugins": "Plugins",
        "interpreter": "Code interpreter",
        "max_turns": "Max turns",
        "temperature": "Temperature",
        "new_chat": "New chat",
        "conversations": "Conversations",
        "delete": "Delete",
        "export_json": "Export JSON",
        "export_md": "Export Markdown",
        "upload": "Upload a file",
        "uploaded": "Uploaded {name} ({size} bytes) to the conversation's folder",
        "ask": "Ask something…",
        "show_prompt": "Show the prompt of the last turn",
        "no_prompt": "No model turn yet.",
        "arguments": "Arguments",
        "result": "Result",
        "error": "Error",
        "thinking": "Thinking",
        "empty": "Ask a question below. Tool calls appear as expandable panels.",
        "demo_model": "The embedded SmolLM2-135M is a demonstration model: it answers simple questions and seldom "
        "uses tools well. For a capable local model: `liteagent models pull internlm2.5-1.8b`, then "
        "`liteagent web --model internlm2.5-1.8b`.",
        "plugin_error": "Plugin not available: {error}",
        "approval_title": "Approval needed: the model wants to run these calls",
        "approval_call": "{tool}, with exactly these arguments:",
        "approve": "Approve",
        "reject": "Reject",
        "always": "Always",
        "always_help": "Approve this call and every later call of this tool in this conversation",
        "reject_reason": "Reason, if you reject (the model reads it)",
        "decide_first": "Calls wait for your decision: approve or reject them first. This message was not sent:",
        "waiting": "waiting for approval",
        "typed_answer": "Answer (validated JSON)",
        "timeline": "Timeline",
        "cut_off": "The last run was cut off while tools ran (the server stopped). Continue it; a new question continues it first.",
        "unanswered": "The last question has no answer yet: continue the run, or ask again.",
        "continue": "Continue",
    },
    "zh": {
        "language": "语言",
        "settings": "模型",
        "backend": "后端",
        "backend_local": "内置模型（离线）",
        "backend_openai": "OpenAI 兼容服务",
        "model": "模型名称",
        "base_url": "服务地址",
        "key_operator": "由管理员设置（保存在服务器端）",
        "url_locked": "由管理员固定：服务器的密钥只发送到这里",
        "more": "更多（{n}）",
        "export": "导出本对话",
        "reading_prompt": "模型正在读取提示词… {pct}%",
        "model_local": "由内置模型回答：SmolLM2-135M-Instruct，或 `liteagent web --model-path` 指定的 GGUF",
        "tool_choice": "工具调用",
        "tool_choice_auto": "由模型决定",
        "tool_choice_required": "必须先调用工具",
        "tool_choice_none": "不用工具",
        "trimmed": "为适应模型的上下文长度，最早的 {n} 轮对话未放入提示词",
        "upload_too_big": "{name} 超过 {mb} MB：未发送任何内容，请附上更小的文件",
        "password": "密码",
        "sign_in": "登录",
        "wrong_password": "密码错误",
        "api_key": "API 密钥",
        "protocol": "工具调用协议",
        "system_prompt": "系统提示词",
        "plugin_prompt": "插件提示词",
        "plugins": "插件",
        "interpreter": "代码解释器",
        "max_turns": "最大轮次",
        "temperature": "温度",
        "new_chat": "新对话",
        "conversations": "对话记录",
        "delete": "删除",
        "export_json": "导出 JSON",
        "export_md": "导出 Markdown",
        "upload": "上传文件",
        "uploaded": "已上传 {name}（{size} 字节）到本对话的文件夹",
        "ask": "请输入问题…",
        "show_prompt": "查看上一轮发送给模型的提示词",
        "no_prompt": "还没有模型轮次。",
        "arguments": "参数",
        "result": "结果",
        "error": "错误",
        "thinking": "思考",
        "empty": "在下方输入问题。工具调用会显示为可展开的面板。",
        "demo_model": "内置的 SmolLM2-135M 只是演示模型：能回答简单问题，但很少能用好工具。要更强的本地模型："
        "`liteagent models pull internlm2.5-1.8b`，然后 `liteagent web --model internlm2.5-1.8b`。",
        "plugin_error": "插件不可用：{error}",
        "approval_title": "需要批准：模型想要执行以下调用",
        "approval_call": "{tool}，批准后将完全按以下参数执行：",
        "approve": "批准",
        "reject": "拒绝",
        "always": "始终允许",
        "always_help": "批准本次调用，并在本对话中不再询问此工具",
        "reject_reason": "拒绝理由（可选，模型会看到）",
        "decide_first": "有调用在等待您的决定：请先批准或拒绝。这条消息未发送：",
        "waiting": "等待批准",
        "typed_answer": "答案（已校验的 JSON）",
        "timeline": "时间线",
        "cut_off": "上一次运行在工具执行时被中断（服务器停止了）。请继续运行；提出新问题时也会先继续它。",
        "unanswered": "上一个问题还没有回答：可以继续运行，或重新提问。",
        "continue": "继续",
    },
}


def t(lang: str, key: str, **kw: object) -> str:
    text = LABELS.get(lang, LABELS["en"]).get(key) or LABELS["en"][key]
    return text.format(**kw) if kw else text


_ARG_LABELS = {"base_url": "base_url", "api_key": "api_key", "model": "model", "protocol": "protocol"}


def web_words(message: str, lang: str) -> str:
    """Library errors name Python arguments (`base_url=`); the page names its own fields."""
    import re

    def label(m: re.Match[str]) -> str:
        key = _ARG_LABELS.get(m.group(1))
        return f"“{t(lang, key)}”" if key else m.group(1)

    return re.sub(r"`(\w+)=`", label, message)
