"""The web chat with Streamlit's AppTest, against the scripted server on 127.0.0.1."""

from __future__ import annotations

import json

from liteagent.prompts import META_CN

from .page import shown

TOOL_CALL = '<tool_call>{"name": "EnvChecker.check_torch_env", "arguments": {}}</tool_call>'


def posts(server):
    return [r["body"] for r in server.requests if r["body"] is not None]


def ask(at, text):
    at.chat_input[0].set_value(text).run()
    assert not at.exception, at.exception
    return at


def test_page_and_whole_conversation_with_a_tool_call(web_env, app_test, server):
    server.replies = ["Let me check." + TOOL_CALL, "No GPU here."]
    at = app_test()
    at.run()
    assert [t.value for t in at.title] == ["liteagent"]
    ask(at, "Check my GPU")
    md = shown(at)
    assert "Check my GPU" in md and "No GPU here." in md and "Let me check." in md
    tool = [e for e in at.expander if "EnvChecker.check_torch_env" in e.label.replace("\\", "")]
    assert tool and ":green[success]" in tool[0].label
    assert any("=== System Information ===" in c.value for c in at.code)  # the result, as text
    prompt_view = [e for e in at.expander if "Show the prompt" in e.label][0]
    assert any('"role": "user"' in str(j.value) for j in prompt_view.json)


def test_sidebar_settings_reach_the_agent(web_env, app_test, server):
    web_env(protocol="internlm2")
    server.replies = ["好的。"]
    at = app_test()
    at.run()
    at.sidebar.text_area(key="system_prompt").set_value("You are a terse assistant.")
    at.sidebar.text_area(key="plugin_prompt").set_value("TOOLS:\n{prompt}\nEND")
    at.sidebar.slider(key="temperature").set_value(0.7)
    at.run()
    ask(at, "hi")
    body = posts(server)[-1]
    assert body["prompt"].startswith("<|im_start|>system\nYou are a terse assistant.<|im_end|>\n")
    assert "<|im_start|>system name=<|plugin|>\nTOOLS:\n[" in body["prompt"] and "\nEND<|im_end|>" in body["prompt"]
    assert body["temperature"] == 0.7 and body["skip_special_tokens"] is False


def test_internlm2_defaults_are_the_chinese_prompts_and_labels_switch(web_env, app_test):
    web_env(protocol="internlm2")
    at = app_test()
    at.run()
    assert at.sidebar.text_area(key="system_prompt").value == META_CN
    at.sidebar.radio(key="lang").set_value("zh").run()
    assert at.chat_input[0].placeholder == "请输入问题…"
    assert "系统提示词" in [t.label for t in at.sidebar.text_area]


def test_persistence_across_restart_and_isolation(web_env, app_test, server):
    server.replies = ["First answer.", "Second answer."]
    at = app_test("alice")
    at.run()
    ask(at, "First question")
    # a new server process: a fresh AppTest on the same database, same browser id
    again = app_test("alice")
    again.run()
    conv_buttons = [b for b in again.sidebar.button if b.label.endswith("First question")]
    assert conv_buttons, [b.label for b in again.sidebar.button]
    conv_buttons[0].click().run()
    assert "First answer." in shown(again)
    ask(again, "Second question")
    sent = posts(server)[-1]["messages"]
    assert [m["content"] for m in sent if m["role"] != "system"] == [
        "First question",
        "First answer.",
        "Second question",
    ]
    # another browser sees none of it
    other = app_test("bob")
    other.run()
    assert not [b for b in other.sidebar.button if "First question" in b.label]


def test_delete_conversation(web_env, app_test, server):
    server.replies = ["ok"]
    at = app_test("carol")
    at.run()
    ask(at, "Delete me")
    at.sidebar.button(key="delete").click().run()
    assert not [b for b in at.sidebar.button if "Delete me" in b.label]


def test_upload_is_saved_announced_and_readable_by_tools(web_env, app_test, server):
    web_env(protocol="internlm2", interpreter=True)
    server.replies = [
        '<|action_start|><|interpreter|>\nimport glob\nprint(open(glob.glob("*.csv")[0]).read())',
        "The file has two rows.",
    ]
    at = app_test("dave")
    at.run()
    at.chat_input[0].upload("data.csv", b"a,b\n1,2\n", "text/csv")
    ask(at, "What is in the file?")
    first = posts(server)[0]["prompt"]
    announce = first.split("<|im_start|>user name=file\n", 1)[1].split("<|im_end|>", 1)[0]
    info = json.loads(announce)
    assert info["path"].endswith("data.csv") and info["size"] == 8
    assert open(info["path"], "rb").read() == b"a,b\n1,2\n"
    assert any("a,b\n1,2" in c.value for c in at.code)  # the interpreter read the uploaded file
    assert "The file has two rows." in shown(at)


def test_errors_appear_inline_and_the_conversation_survives(web_env, app_test, server, free_port):
    web_env(base_url=f"http://127.0.0.1:{free_port}/v1")
    at = app_test("erin")
    at.run()
    ask(at, "hello?")
    assert any("cannot reach the model server" in e.value for e in at.error)
    at.sidebar.text_input(key="base_url").set_value(server.url).run()
    server.replies = ["Back online."]
    ask(at, "hello again")
    assert "Back online." in shown(at)
    assert "hello?" in shown(at)  # earlier turn still shown


def test_model_output_is_not_html(web_env, app_test, server):
    server.replies = ["<script>alert(1)</script><img src=x onerror=alert(2)> ![t](http://example.invalid/x.png)"]
    at = app_test("frank")
    at.run()
    ask(at, "xss?")
    answer = [h.value for h in at.html if "script" in h.value][0]
    assert "&lt;script&gt;" in answer and "&lt;img src=x" in answer  # the tags, as text
    assert "<img" not in answer and "<script" not in answer and "<a" not in answer
    assert "x.png" in answer  # the image's address, as text


def test_plugin_selection_and_max_turns_reach_the_agent(web_env, app_test, server):
    web_env(plugins=["EnvChecker", "ArxivSearch"])
    n = iter(range(100))
    server.default_reply = lambda body: (
        '<tool_call>{"name": "ArxivSearch.get_paper", "arguments": {"arxiv_id": "not an id '
        + str(next(n))
        + '"}}</tool_call>'
    )  # an invalid id: the tool answers without any request
    at = app_test("gina")
    at.run()
    at.sidebar.multiselect(key="plugins_sel").set_value(["ArxivSearch"])
    at.sidebar.slider(key="max_turns").set_value(2)
    at.run()
    ask(at, "papers?")
    system = posts(server)[0]["messages"][0]["content"]
    assert '"name": "ArxivSearch.get_paper"' in system and "EnvChecker" not in system
    assert len(posts(server)) == 2  # max turns 2
    assert any("stopped after 2 model turns" in e.value for e in at.error)


def test_tool_panels_show_their_own_turns_result_on_resume(web_env, app_test, server):
    web_env(plugins=["EnvChecker", "ArxivSearch"])
    call = '<tool_call>{"name": "ArxivSearch.get_paper", "arguments": {"arxiv_id": "ID"}}</tool_call>'
    server.replies = [call.replace("ID", "bad id one"), "first done", call.replace("ID", "bad id two"), "second done"]
    at = app_test("hana")
    at.run()
    ask(at, "paper one?")
    ask(at, "paper two?")
    again = app_test("hana")  # a new server process, the conversation reopened
    again.run()
    [b for b in again.sidebar.button if b.label.endswith("paper one?")][0].click().run()
    panels = [e for e in again.expander if "ArxivSearch" in e.label.replace("\\", "")]
    assert len(panels) == 2
    errors = [[x.value for x in p.error] for p in panels]  # both calls had the id call_0
    assert "one" in " ".join(errors[0]) and "two" not in " ".join(errors[0])
    assert "two" in " ".join(errors[1])


def test_export_right_after_an_answer_holds_it(web_env, app_test, server, tmp_path):
    from streamlit.runtime.memory_media_file_storage import _calculate_file_id

    from liteagent.web.store import ConversationStore

    server.replies = ["The answer to export."]
    at = app_test("ivy")
    at.run()
    ask(at, "Export me")
    store = ConversationStore(tmp_path / "web.sqlite3")
    cid = store.conversations("ivy")[0].id
    exported = store.export_json("ivy", cid)
    assert "The answer to export." in exported
    urls = [b.proto.url for b in at.sidebar.get("download_button")]
    want = _calculate_file_id(exported.encode(), "application/json", "conversation.json")
    assert any(want in u for u in urls), urls  # the button serves the conversation with its answer


def test_reopening_restores_settings_and_language_survives_reload(web_env, app_test, server):
    web_env(plugins=["EnvChecker", "ArxivSearch"])
    server.replies = ["first", "second"]
    at = app_test("jo")
    at.run()
    at.sidebar.selectbox(key="protocol").set_value("react")
    at.sidebar.multiselect(key="plugins_sel").set_value(["ArxivSearch"])
    at.sidebar.selectbox(key="tool_choice").set_value("none")
    at.sidebar.radio(key="lang").set_value("zh")
    at.run()
    ask(at, "remember my settings")
    assert at.query_params["lang"] == ["zh"] or at.query_params["lang"] == "zh"
    again = app_test("jo")  # a reload: a new session of the page, the same address
    again.query_params["lang"] = "zh"
    again.run()
    assert again.sidebar.radio(key="lang").value == "zh"
    assert again.sidebar.selectbox(key="protocol").value == "auto"  # a new chat starts from the defaults
    [b for b in again.sidebar.button if b.label.endswith("remember my settings")][0].click().run()
    assert again.sidebar.selectbox(key="protocol").value == "react"
    assert again.sidebar.multiselect(key="plugins_sel").value == ["ArxivSearch"]
    assert again.sidebar.selectbox(key="tool_choice").value == "none"


def test_tool_choice_from_the_sidebar_reaches_the_request(web_env, app_test, server):
    web_env(protocol="openai")
    server.replies = ["no tools used"]
    at = app_test("kim")
    at.run()
    at.sidebar.selectbox(key="tool_choice").set_value("none").run()
    ask(at, "hi")
    body = posts(server)[-1]
    assert "tools" not in body  # none: the tools are not offered


def test_embedded_backend_shows_no_server_model_and_advice_names_the_fields(web_env, app_test, free_port):
    web_env(backend="local", model="some-server-model")
    at = app_test("lou")
    at.run()
    field = at.sidebar.text_input(key="model")
    assert field.disabled
    web_env(base_url=f"http://127.0.0.1:{free_port}/v1")
    at = app_test("max")
    at.run()
    ask(at, "hello?")
    errors = " ".join(e.value for e in at.error)
    assert "--base-url" not in errors and "base_url=" not in errors and "Server URL" in errors


def test_the_same_plugin_twice_is_used_once(web_env, app_test, server, tmp_path):
    from pathlib import Path

    seed = Path(__file__).resolve().parents[1] / "data" / "seed_env_checker.py"
    web_env(plugins=["EnvChecker", f"{seed}:EnvChecker"], extra_specs=[f"{seed}:EnvChecker"])
    server.replies = ["fine"]
    at = app_test("ned")
    at.run()
    ask(at, "hi")
    assert any("enabled twice" in w.value for w in at.warning)
    assert "fine" in shown(at)


def test_a_question_and_its_upload_share_one_bubble(web_env, app_test, server):
    server.replies = ["Got it."]
    at = app_test("olga")
    at.run()
    at.chat_input[0].upload("notes.txt", b"hello", "text/plain")
    ask(at, "Read my notes")
    users = [c for c in at.chat_message if c.name == "user"]
    assert len(users) == 1  # after the page redraws: one bubble, the file and the question
    assert "notes.txt" in " ".join(x.value for x in users[0].caption).replace("\\", "")
    assert "Read my notes" in shown(users[0])


def test_mcp_servers_of_the_operator_are_plugins_on_the_page(web_env, app_test, server, tmp_path):
    import sys as _sys
    from pathlib import Path

    demo = Path(__file__).resolve().parents[1] / "data" / "mcp_demo_server.py"
    cfg = tmp_path / "mcp.json"
    cfg.write_text(json.dumps({"mcpServers": {"demo": {"command": _sys.executable, "args": [str(demo)]}}}))
    web_env(mcp=[str(cfg)], plugins=["mcp:demo"])
    server.replies = ['<tool_call>{"name": "demo.echo", "arguments": {"text": "web"}}</tool_call>', "It echoed."]
    at = app_test("pia")
    at.run()
    assert "mcp:demo" in at.sidebar.multiselect(key="plugins_sel").options
    ask(at, "echo")
    panels = [e for e in at.expander if "demo.echo" in e.label.replace("\\", "")]
    assert panels and ":green[success]" in panels[0].label
    assert "It echoed." in shown(at)


def test_the_shipped_135m_model_is_named_a_demonstration_on_the_first_screen(web_env, app_test):
    web_env(backend="local", model="")
    at = app_test("newcomer")
    at.run()
    notes = " ".join(i.value for i in at.info)
    assert "demonstration model" in notes and "liteagent models pull internlm2.5-1.8b" in notes
    web_env()  # a server's model: nothing to say
    at = app_test("operator")
    at.run()
    assert not any("demonstration" in i.value for i in at.info)


def test_a_tool_that_reports_progress_runs_in_the_web_chat(web_env, app_test, server, tmp_path):
    plugin = tmp_path / "steps.py"
    plugin.write_text(
        "from liteagent import ToolContext, tool\n\n\n"
        "@tool\n"
        "def steps(ctx: ToolContext) -> str:\n"
        '    """Three steps."""\n'
        "    for i in (1, 2, 3):\n"
        '        ctx.report_progress(i, 3, f"step {i}")\n'
        '    return "three steps done"\n'
    )
    web_env(plugins=[f"{plugin}:steps"], extra_specs=[f"{plugin}:steps"])
    server.replies = ['<tool_call>{"name": "steps", "arguments": {}}</tool_call>', "All done."]
    at = app_test("quinn")
    at.run()
    ask(at, "go")
    assert not at.exception and not at.error, [e.value for e in at.error]
    panels = [e for e in at.expander if "steps" in e.label.replace("\\", "")]
    assert panels and ":green[success]" in panels[0].label
    assert "All done." in shown(at)
    assert "three steps done" in json.dumps(server.requests[-1]["body"])
