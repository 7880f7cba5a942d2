"""Default prompts of each dialect. All are editable (``--system-prompt``, ``--plugin-prompt``).

The internlm2 defaults are the tutorial's Chinese prompts (what InternLM2.5-chat was tuned on);
English equivalents are offered beside them.
"""

from __future__ import annotations

META_CN = "当开启工具以及代码时，根据需求选择合适的工具进行调用"
PLUGIN_CN = (
    "你可以使用如下工具：\n{prompt}\n如果你已经获得足够信息，请直接给出答案. 避免不必要的工具调用! "
    "同时注意你可以使用的工具，不要随意捏造！"
)
INTERPRETER_CN = (
    "你现在已经能够在一个有状态的 Jupyter 笔记本环境中运行 Python 代码。"
    "当你向 python 发送含有 Python 代码的消息时，它将在该环境中执行。"
    "这个工具适用于多种场景，如数据分析或处理（包括数据操作、统计分析、图表绘制），"
    "复杂的计算问题（解决数学和物理难题），编程示例（理解编程概念或特性），"
    "文本处理和分析（比如文本解析和自然语言处理），"
    "机器学习和数据科学（用于展示模型训练和数据可视化），"
    "以及文件操作和数据导入（处理CSV、JSON等格式的文件）。"
)

META_EN = "When tools and code are enabled, choose the right tool for the request and call it."
PLUGIN_EN = (
    "You can use the following tools:\n{prompt}\nIf you already have enough information, answer directly. "
    "Avoid unnecessary tool calls! Use only the tools listed above; never make one up!"
)
INTERPRETER_EN = (
    "You can now run Python code in a stateful Jupyter notebook environment. When you send a message "
    "containing Python code to python, it runs there. Use it for data analysis, calculations, "
    "plotting, text processing and working with files."
)

SYSTEM_EN = "You are a helpful assistant."

HERMES_TOOLS = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{prompt}\n</tools>\n\n"
    "For each function call, return a json object with function name and arguments within "
    '<tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
)

REACT_TOOLS = (
    "Answer the question as well as you can. You have access to the following tools:\n\n{prompt}\n\n"
    "Use this format:\n\n"
    "Thought: think about what to do\n"
    "Action: the tool to use, one of [{tool_names}]\n"
    "Action Input: the tool's arguments as a JSON object\n"
    "Observation: the tool's result\n"
    "... (Thought/Action/Action Input/Observation can repeat)\n"
    "Thought: I now know the final answer\n"
    "Final Answer: the answer to the question\n\n"
    "Write Final Answer directly when no tool is needed."
)
