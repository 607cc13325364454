// @ts-check
// The message box a page shows above its content: a line of text in a tone
// ("error" or "info"), and a link to the next step when there is one. The
// page's markup (shared/notices.css styles it):
//   <div id="notice" class="notice" hidden>
//     <p><span id="notice-text"></span> <a id="notice-link" hidden></a></p>
//   </div>

import { $ } from "./dom.js";

/** @typedef {"error" | "info"} Tone */
/** @typedef {{href: string, text: string}} NoticeLink */

export class Notice {
  /** @param {HTMLElement} box the `.notice` element */
  constructor(box) {
    this.box = box;
    this.text = $("#notice-text", box);
    /** @type {HTMLAnchorElement} */
    this.link = $("#notice-link", box);
  }

  /**
   * @param {string} text
   * @param {Tone} tone
   * @param {NoticeLink | null} [link]
   */
  show(text, tone, link = null) {
    this.box.dataset.tone = tone;
    this.text.textContent = text;
    this.link.hidden = !link;
    if (link) {
      this.link.href = link.href;
      this.link.textContent = link.text;
    } else {
      this.link.removeAttribute("href");
    }
    this.box.hidden = false;
  }

  hide() {
    this.box.hidden = true;
  }
}
